"""Jetson board power: parse tegrastats lines, read the INA3221 monitors in sysfs, integrate energy.

Which rail is "the board": ``VDD_IN`` (module input: TX1/TX2, Xavier NX, Orin NX / Nano), ``POM_5V_IN`` (Jetson
Nano), ``VIN`` (Thor); on AGX Orin, which reports no input rail, the sum of ``VDD_GPU_SOC + VDD_CPU_CV +
VIN_SYS_5V0`` (the rails NVIDIA's Jetson Linux power docs list for that module); otherwise the sum of all rails
shown. tegrastats prints each rail as ``current/average`` (mW, bare numbers before JetPack 5, ``mW`` suffixed
after) and JetPack 7 adds a third ``/max`` figure. Sysfs: L4T >= 34 uses the mainline ``ina3221`` hwmon driver
(``inN_label``, ``inN_input`` mV, ``currN_input`` mA); L4T 32 the ``ina3221x`` IIO driver (``rail_name_N``,
``in_power N_input`` mW).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

TOTAL_RAILS = ("VDD_IN", "POM_5V_IN", "VIN")
AGX_ORIN_RAILS = ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0")
_RAIL = re.compile(r"\b([A-Z][A-Z0-9_]*)\s+(\d+)(?:mW)?/(\d+)(?:mW)?(?:/(\d+)(?:mW)?)?")
_NOT_RAILS = {"RAM", "SWAP", "IRAM", "EMC_FREQ", "GR3D_FREQ"}


@dataclass(frozen=True)
class Rail:
    name: str
    current_mw: int
    average_mw: int
    max_mw: int | None = None


def parse_tegrastats_line(line: str) -> dict[str, Rail]:
    """Power rails in one tegrastats line, by name (``RAM 1923/3964MB`` and friends are not rails)."""
    rails = {}
    for name, cur, avg, peak in _RAIL.findall(line):
        if name in _NOT_RAILS:
            continue
        rails[name] = Rail(name, int(cur), int(avg), int(peak) if peak else None)
    return rails


def board_power_mw(rails: dict[str, Rail]) -> tuple[float, str] | None:
    """(current board power in mW, which rails made it) from parsed rails, or None when there are none."""
    for name in TOTAL_RAILS:
        if name in rails:
            return float(rails[name].current_mw), name
    if all(r in rails for r in AGX_ORIN_RAILS):
        return float(sum(rails[r].current_mw for r in AGX_ORIN_RAILS)), "+".join(AGX_ORIN_RAILS)
    if rails:
        return float(sum(r.current_mw for r in rails.values())), "+".join(rails)
    return None


def energy_joules(times_s: list[float], power_mw: list[float]) -> float:
    """Trapezoidal integral of power over time, in joules."""
    if len(times_s) < 2:
        return 0.0
    total = 0.0
    for i in range(1, len(times_s)):
        total += (times_s[i] - times_s[i - 1]) * (power_mw[i] + power_mw[i - 1]) / 2.0
    return total / 1000.0


# ---- sysfs --------------------------------------------------------------------------------------------------------
def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def sysfs_rails(root: str = "/sys") -> dict[str, Callable[[], float]]:
    """{rail name: function returning its power in mW now} from the INA3221 monitors under ``root``."""
    readers: dict = {}
    for label in sorted(glob.glob(f"{root}/bus/i2c/drivers/ina3221/*/hwmon/hwmon*/in*_label")):
        n = re.search(r"in(\d+)_label$", label).group(1)  # type: ignore[union-attr]
        base = os.path.dirname(label)
        volt, curr = f"{base}/in{n}_input", f"{base}/curr{n}_input"
        if os.path.exists(volt) and os.path.exists(curr):
            readers[_read(label)] = lambda v=volt, c=curr: float(_read(v)) * float(_read(c)) / 1000.0
    for name_file in sorted(glob.glob(f"{root}/bus/i2c/drivers/ina3221x/*/iio:device*/rail_name_*")):
        n = name_file.rsplit("_", 1)[1]
        power = f"{os.path.dirname(name_file)}/in_power{n}_input"
        if os.path.exists(power):
            readers[_read(name_file)] = lambda p=power: float(_read(p))
    return readers


def energy_unavailable_reason(root: str = "/sys") -> str | None:
    """None on a Jetson with readable power monitors or tegrastats, else why energy cannot be measured here."""
    if sysfs_rails(root) or shutil.which("tegrastats"):
        return None
    return (f"not a Jetson: no INA3221 power monitor under {root}/bus/i2c/drivers/ina3221* and no tegrastats, "
            "so no energy per inference")



class EnergyMeter:
    """Samples board power on a thread (sysfs every ``interval_s``) between start() and stop()."""

    def __init__(self, readers: dict, interval_s: float = 0.01):
        self.readers, self.interval_s = readers, interval_s
        self._times: list[float] = []
        self._power: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._source = ""

    @classmethod
    def detect(cls, root: str = "/sys") -> "EnergyMeter | TegrastatsMeter | None":
        """Sysfs monitors when readable, else a ``tegrastats`` process when the tool is there, else None."""
        readers = sysfs_rails(root)
        if readers:
            return cls(readers)
        tool = shutil.which("tegrastats")
        return TegrastatsMeter(tool) if tool else None

    def sample_mw(self) -> float:
        rails = {name: Rail(name, int(read()), 0) for name, read in self.readers.items()}
        found = board_power_mw(rails)
        if found is None:
            return 0.0
        self._source = found[1]
        return found[0]

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._times.append(time.perf_counter())
            self._power.append(self.sample_mw())
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        self._stop.clear()
        self._times, self._power = [], []
        self._thread = threading.Thread(target=self._loop, name="jetsonkit-power", daemon=True)
        self._thread.start()

    def stop(self) -> dict:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._times.append(time.perf_counter())
        self._power.append(self.sample_mw())
        joules = energy_joules(self._times, self._power)
        seconds = self._times[-1] - self._times[0]
        return {"joules": joules, "seconds": seconds, "mean_power_w": joules / seconds if seconds else 0.0,
                "samples": len(self._times), "rails": self._source, "source": "INA3221 sysfs"}


def parse_tegrastats_file(path: str | os.PathLike) -> list[dict[str, Rail]]:
    """Rails of every line of a tegrastats log (``tegrastats --logfile``)."""
    return [parse_tegrastats_line(line) for line in Path(path).read_text().splitlines() if line.strip()]


class TegrastatsMeter:
    """Board power from a ``tegrastats --interval MS`` process (when sysfs is not readable, e.g. in a container
    that has the tool but not /sys/bus/i2c); each line is stamped with its arrival time and integrated."""

    def __init__(self, tool: str, interval_ms: int = 50):
        self.tool, self.interval_ms = tool, interval_ms
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._times: list[float] = []
        self._power: list[float] = []
        self._source = ""

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            found = board_power_mw(parse_tegrastats_line(line))
            if found is not None:
                self._times.append(time.perf_counter())
                self._power.append(found[0])
                self._source = found[1]

    def start(self) -> None:
        self._times, self._power = [], []
        self._proc = subprocess.Popen([self.tool, "--interval", str(self.interval_ms)], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True)
        self._thread = threading.Thread(target=self._read, name="jetsonkit-tegrastats", daemon=True)
        self._thread.start()

    def stop(self) -> dict:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)
        joules = energy_joules(self._times, self._power)
        seconds = self._times[-1] - self._times[0] if len(self._times) > 1 else 0.0
        return {"joules": joules, "seconds": seconds, "mean_power_w": joules / seconds if seconds else 0.0,
                "samples": len(self._times), "rails": self._source, "source": "tegrastats"}
