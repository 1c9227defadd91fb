"""Jetson power: the tegrastats parser on real lines from several Jetson models, the sysfs reader, integration.

Recorded lines (quoted from public test suites, cited per line):
- Jetson Nano, JetPack 4.6.1 and Xavier NX, JetPack 4.1.1 / 5.1.2: waggle-sensor/jetson-exporter, tegra_test.go
  (TestParseTegraStatsXavierNanoJetPack461, TestParseTegraStatsXavierNXJetPack411 / ...JetPack512).
- AGX Orin developer kit, JetPack 7.2 (L4T R39.2): rbonghi/jetson_stats, tests (TEGRASTATS_ORIN_JP7).
"""

from __future__ import annotations

import pytest

from jetsonkit.runtime.power import (EnergyMeter, board_power_mw, energy_joules, energy_unavailable_reason,
                                     parse_tegrastats_line, sysfs_rails)

NANO_JP461 = ("RAM 1923/3964MB (lfb 2x2MB) SWAP 191/1982MB (cached 6MB) IRAM 0/252kB(lfb 252kB) "
              "CPU [5%@1224,4%@1224,3%@1224,6%@1224] EMC_FREQ 0%@1600 GR3D_FREQ 0%@76 APE 25 PLL@37C CPU@40C "
              "PMIC@50C GPU@40C AO@45C thermal@40C POM_5V_IN 1750/1628 POM_5V_GPU 0/0 POM_5V_CPU 366/406")
XAVIER_NX_JP411 = ("RAM 5246/7771MB (lfb 7x4MB) SWAP 983/20269MB (cached 280MB) "
                   "CPU [47%@1420,23%@1420,32%@1420,22%@1420,31%@1420,96%@1420] EMC_FREQ 2%@1600 GR3D_FREQ 0%@1109 "
                   "APE 150 MTS fg 1% bg 9% AO@29C GPU@31.5C PMIC@100C AUX@30C CPU@33.5C thermal@31.35C "
                   "VDD_IN 6140/5510 VDD_CPU_GPU_CV 2706/2119 VDD_SOC 1074/1051")
XAVIER_NX_JP512 = ("07-09-2024 13:31:31 RAM 3168/6851MB (lfb 2x4MB) SWAP 161/3426MB (cached 0MB) "
                   "CPU [23%@1397,17%@1192,16%@1190,13%@1190,23%@1190,10%@1190] EMC_FREQ 2%@204 GR3D_FREQ 0%@[114] "
                   "VIC_FREQ 115 APE 150 AUX@45C CPU@46.5C thermal@45.6C AO@45C GPU@45.5C PMIC@50C "
                   "VDD_IN 2763mW/2846mW VDD_CPU_GPU_CV 650mW/670mW VDD_SOC 650mW/711mW")
AGX_ORIN_JP72 = ("07-25-2026 09:08:28 RAM 20642/62817MB (lfb 1x2MB) "
                 "CPU [23%@2201,10%@2201,4%@2201,14%@2201,30%@2201,18%@2201,10%@2201,10%@2201,33%@2201,7%@2201,"
                 "5%@2201,27%@2201] EMC_FREQ 3%@3199 GR3D_FREQ 12%@[1300,1300] NVENC0 off NVDEC0 off NVJPG0 off "
                 "NVJPG1 off VIC off OFA off NVDLA0 off NVDLA1 off PVA0_FREQ off APE 174 cpu@52.968C/52.968C "
                 "soc2@48.406C/48.406C soc0@49.531C/49.531C gpu@47.625C/47.625C VDD_GPU_SOC 5139mW/5139mW/5139mW "
                 "VDD_CPU_CV 3268mW/3268mW/3268mW VIN_SYS_5V0 5500mW/5500mW/5500mW")


@pytest.mark.parametrize("line,rails,total,source", [
    (NANO_JP461, {"POM_5V_IN": (1750, 1628), "POM_5V_GPU": (0, 0), "POM_5V_CPU": (366, 406)}, 1750, "POM_5V_IN"),
    (XAVIER_NX_JP411, {"VDD_IN": (6140, 5510), "VDD_CPU_GPU_CV": (2706, 2119), "VDD_SOC": (1074, 1051)}, 6140,
     "VDD_IN"),
    (XAVIER_NX_JP512, {"VDD_IN": (2763, 2846), "VDD_CPU_GPU_CV": (650, 670), "VDD_SOC": (650, 711)}, 2763, "VDD_IN"),
    (AGX_ORIN_JP72, {"VDD_GPU_SOC": (5139, 5139), "VDD_CPU_CV": (3268, 3268), "VIN_SYS_5V0": (5500, 5500)},
     5139 + 3268 + 5500, "VDD_GPU_SOC+VDD_CPU_CV+VIN_SYS_5V0"),
], ids=["nano-jp4.6.1", "xavier-nx-jp4.1.1", "xavier-nx-jp5.1.2", "agx-orin-jp7.2"])
def test_parse_real_tegrastats_lines(line, rails, total, source):
    parsed = parse_tegrastats_line(line)
    assert {k: (r.current_mw, r.average_mw) for k, r in parsed.items()} == rails
    assert "RAM" not in parsed and "SWAP" not in parsed
    assert board_power_mw(parsed) == (total, source)


def test_orin_jp7_max_column_and_no_rails():
    assert parse_tegrastats_line(AGX_ORIN_JP72)["VIN_SYS_5V0"].max_mw == 5500
    assert parse_tegrastats_line(XAVIER_NX_JP512)["VDD_IN"].max_mw is None
    assert board_power_mw(parse_tegrastats_line("RAM 4722/7844MB (lfb 1x512kB) EMC_FREQ 2%@1866 APE 150")) is None


def test_energy_is_the_trapezoid_integral():
    assert energy_joules([0.0, 1.0, 2.0], [1000.0, 3000.0, 3000.0]) == pytest.approx(2.0 + 3.0)
    assert energy_joules([0.0], [5000.0]) == 0.0


def _fake_hwmon(root, rails):
    """An INA3221 hwmon tree as L4T >= 34 lays it out (our own plumbing test: labels, mV, mA)."""
    base = root / "bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3"
    base.mkdir(parents=True)
    for n, (label, mv, ma) in enumerate(rails, 1):
        (base / f"in{n}_label").write_text(label + "\n")
        (base / f"in{n}_input").write_text(f"{mv}\n")
        (base / f"curr{n}_input").write_text(f"{ma}\n")


def test_sysfs_hwmon_rails_and_meter(tmp_path):
    _fake_hwmon(tmp_path, [("VDD_IN", 5000, 1200), ("VDD_CPU_GPU_CV", 5000, 300), ("VDD_SOC", 5000, 200)])
    readers = sysfs_rails(str(tmp_path))
    assert sorted(readers) == ["VDD_CPU_GPU_CV", "VDD_IN", "VDD_SOC"]
    assert readers["VDD_IN"]() == pytest.approx(6000.0)
    assert energy_unavailable_reason(str(tmp_path)) is None
    meter = EnergyMeter.detect(str(tmp_path))
    meter.start()
    import time

    time.sleep(0.05)
    result = meter.stop()
    assert result["rails"] == "VDD_IN" and result["mean_power_w"] == pytest.approx(6.0)
    assert result["joules"] == pytest.approx(6.0 * result["seconds"])


def test_energy_skipped_here_with_reason():
    import os

    if os.path.isdir("/sys/bus/i2c/drivers/ina3221") or os.path.isdir("/sys/bus/i2c/drivers/ina3221x"):
        pytest.skip("this machine has INA3221 monitors (a Jetson): the skip reason does not apply")
    reason = energy_unavailable_reason()
    assert "no INA3221 power monitor" in reason


def test_tegrastats_meter_reads_a_running_tool(tmp_path, monkeypatch):
    """Our process plumbing, fed by a stand-in `tegrastats` that prints the recorded Xavier NX line every 20 ms."""
    import os
    import sys
    import time

    from jetsonkit.runtime.power import TegrastatsMeter

    tool = tmp_path / "tegrastats"
    tool.write_text(f"#!{sys.executable}\nimport sys, time\n"
                    f"while True:\n    print({XAVIER_NX_JP512!r}, flush=True)\n    time.sleep(0.02)\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    meter = EnergyMeter.detect(str(tmp_path / "no-sys"))
    assert isinstance(meter, TegrastatsMeter)
    meter.start()
    time.sleep(0.5)
    result = meter.stop()
    assert result["source"] == "tegrastats" and result["rails"] == "VDD_IN" and result["samples"] >= 3
    assert result["mean_power_w"] == pytest.approx(2.763, rel=1e-6)
