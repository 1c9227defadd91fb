"""The native CPU frame path (``_frame.c``): compiled on first use with the C compiler present, loaded by ctypes,
cached under ``$JETSONKIT_CACHE_DIR/preprocess`` (the build machinery of ``calibrators/_native.py``: key of source,
compiler, flags and CPU; atomic writes; a private folder when the cache cannot be written).

``JETSONKIT_NATIVE=0`` turns it off; no compiler or a failed build means the numpy reference runs, and
:func:`status` says why. Same bytes as the numpy reference (tests/jetsonkit/preprocess/test_fast_preprocess.py).
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

import numpy as np

from calibrators import _native as build

SOURCE = Path(__file__).with_name("_frame.c")
# no -ffast-math / reassociation: the float32 normalisation must round exactly as numpy's three operations
FLAGS = ["-O3", "-std=c99", "-fPIC", "-shared", "-ffp-contract=off"]
DTYPES = {"float32": 0, "float16": 1, "uint8": 2}

_lock = threading.Lock()
_state: dict = {}


class JkFrame(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("src_w", "src_h", "src_pitch", "swap_rb", "box_x", "box_y", "box_w",
                                              "box_h", "dst_w", "dst_h", "pad", "nchw", "dtype")] + [
        ("scale", ctypes.c_float), ("mean", ctypes.c_float * 3), ("inv_std", ctypes.c_float * 3)]


def _open(path: Path):
    lib = ctypes.CDLL(str(path))
    if lib.jk_frame_struct_size() != ctypes.sizeof(JkFrame):
        raise OSError("JkFrame layout differs between C and ctypes")
    fn = lib.jk_frame
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.POINTER(JkFrame), ctypes.c_void_p] + [ctypes.c_void_p] * 7
    return fn


def _load() -> tuple[object | None, str]:
    if os.environ.get("JETSONKIT_NATIVE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None, "numpy (JETSONKIT_NATIVE=0)"
    cc = build._compiler()
    if cc is None:
        return None, "numpy (no C compiler: install gcc, or set CC, for the native frame path)"
    try:
        source = SOURCE.read_bytes()
        key = build._key(cc, source, FLAGS)
        opts = {"path": SOURCE, "flags": FLAGS, "name": "frame"}
        try:
            path = build._build(cc, source, Path(build._cache_dir()).parent / "preprocess", key, **opts)
        except (OSError, RuntimeError):
            path = build._build(cc, source, build._private_folder(), key, **opts)
        return _open(path), f"native ({path})"
    except Exception as exc:  # noqa: BLE001 - any failure here means: run the numpy reference, and say why
        return None, f"numpy (native frame path unavailable: {exc})"


def function():
    key = tuple(os.environ.get(k, "") for k in ("JETSONKIT_NATIVE", "CC", "JETSONKIT_CACHE_DIR", "XDG_CACHE_HOME"))
    with _lock:
        if key not in _state:
            _state[key] = _load()
        return _state[key][0]


def status() -> str:
    """Which CPU frame path runs: ``"native (<library>)"`` or ``"numpy (<reason>)"``."""
    function()
    key = tuple(os.environ.get(k, "") for k in ("JETSONKIT_NATIVE", "CC", "JETSONKIT_CACHE_DIR", "XDG_CACHE_HOME"))
    return _state[key][1]


def run(fn, window: np.ndarray, swap: bool, dst: tuple[int, int, int, int], out_w: int, out_h: int, pad: int,
        norm, layout: str, dtype: str) -> np.ndarray:
    """``window`` (h, w, 3) uint8, rows pitched, pixels contiguous -> the (1, ...) network input."""
    from .reference import axis_taps

    h, w = window.shape[:2]
    bx, by, bw, bh = dst
    taps = [np.ascontiguousarray(t, dtype=np.int32) for t in (*axis_taps(bw, w), *axis_taps(bh, h))]
    p = JkFrame(w, h, window.strides[0], int(swap), bx, by, bw, bh, out_w, out_h, pad, int(layout == "NCHW"),
                DTYPES[dtype], float(norm.scale))
    p.mean[:] = [float(m) for m in norm.mean]
    p.inv_std[:] = [float(s) for s in norm.inv_std]
    shape = (1, 3, out_h, out_w) if layout == "NCHW" else (1, out_h, out_w, 3)
    out = np.empty(shape, dtype=dtype)
    fn(ctypes.byref(p), window.ctypes.data, *[t.ctypes.data for t in taps], out.ctypes.data)
    return out
