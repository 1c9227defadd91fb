#!/usr/bin/env python3
"""Pre-processing benchmark: camera frame -> (1, 3, 640, 640) float32 network input, side by side in one run.

Columns: jetsonkit's numpy reference, the native C path (``jetsonkit/preprocess/_frame.c``, rgb / bgr frames; the
CPU path Runtime.infer_frame uses when a C compiler is present), OpenCV (cvtColor + resize INTER_LINEAR + copyMakeBorder +
numpy normalise; if cv2 is installed), and the CUDA kernel (if a GPU is present) with the frame already on the
device and with the upload from a host frame included. Also reported: OpenCV's largest difference from our
reference on the resized uint8 picture (convention check), and the GPU output's largest difference.

    python scripts/bench/preprocess.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import resource
import time

import numpy as np

from jetsonkit.errors import JetsonkitError
from jetsonkit.preprocess import Preprocess, _native, fast
from jetsonkit.preprocess import reference as ref
from jetsonkit.doctor import cpu_name as cpu_model  # noqa: E402

FRAMES = [(640, 480), (1280, 720), (1920, 1080)]
OUT = 640
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def best_ms(fn, reps: int) -> float:
    """Median of ``reps`` timed calls after one warm-up, in milliseconds."""
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def make_frame(fmt: str, w: int, h: int, rng) -> np.ndarray:
    """Random pixels; NV12 in the legal BT.601 ranges (Y 16..235, U/V 16..240) as a camera produces."""
    if fmt == "nv12":
        return np.concatenate([rng.integers(16, 236, (h, w), dtype=np.uint8),
                               rng.integers(16, 241, (h // 2, w), dtype=np.uint8)])
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def opencv_pipeline(cv2, pre: Preprocess):
    """The usual OpenCV pre-processing, producing the same tensor layout as ``pre``."""
    mean = np.asarray(MEAN, np.float32)[:, None, None]
    inv = (1 / np.asarray(STD, np.float64)).astype(np.float32)[:, None, None]

    def picture(frame):
        rgb = cv2.cvtColor(frame, cv2.COLOR_YUV2RGB_NV12) if pre.src_format == "nv12" else cv2.cvtColor(
            frame, cv2.COLOR_BGR2RGB)
        box = pre.box(rgb.shape[1], rgb.shape[0])
        img = cv2.resize(rgb, (box.w, box.h), interpolation=cv2.INTER_LINEAR)
        return cv2.copyMakeBorder(img, box.y, OUT - box.h - box.y, box.x, OUT - box.w - box.x,
                                  cv2.BORDER_CONSTANT, value=(114, 114, 114))

    def run(frame):
        x = picture(frame).transpose(2, 0, 1).astype(np.float32)
        return (((x * np.float32(1 / 255)) - mean) * inv)[None]

    return run, picture


def gpu_columns(pre: Preprocess, frame: np.ndarray, reps: int) -> dict:
    """Kernel time with the frame on the device, and with the host upload; largest difference from numpy."""
    from jetsonkit.preprocess import _driver, cuda

    cuda.loaded_kernels()  # a current context for the allocations below
    drv = _driver.driver()
    info = pre.check(frame)
    span = cuda.frame_span(info)
    d_frame, d_out = drv.mem_alloc(span), drv.mem_alloc(pre.output_nbytes)
    try:
        drv.htod_async(d_frame, frame.ctypes.data, span, 0)

        class DeviceFrame:  # a minimal __cuda_array_interface__ view of the uploaded frame
            __cuda_array_interface__ = {"shape": frame.shape, "typestr": "|u1", "data": (d_frame, False),
                                        "strides": None, "version": 3}

        def resident():
            pre.run_into(DeviceFrame(), d_out, 0)
            drv.stream_sync(0)

        def uploaded():
            pre.run_into(frame, d_out, 0)
            drv.stream_sync(0)

        cols = {"gpu_ms": best_ms(resident, reps), "gpu_upload_ms": best_ms(uploaded, reps)}
        out = np.empty(pre.output_shape, np.float32)
        drv.dtoh(out.ctypes.data, d_out, pre.output_nbytes)
        cols["gpu_max_diff"] = float(np.abs(out - pre.reference(frame)).max())
        cols["gpu"] = drv.device_name()
        return cols
    finally:
        drv.mem_free(d_frame)
        drv.mem_free(d_out)
        pre.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()
    reps = 3 if args.quick else 15
    rng = np.random.default_rng(0)
    try:
        import cv2  # noqa: F401 - optional peer
        cv2.setNumThreads(1)  # like for like: the numpy and native paths use one core
    except ImportError:
        cv2 = None
    gpu_reason, gpu_name = None, ""
    try:
        from jetsonkit.preprocess import _driver, cuda

        gpu_name = f"{_driver.driver().device_name()} ({cuda.loaded_kernels().target})"
    except JetsonkitError as exc:
        gpu_reason = str(exc)

    print(f"# preprocess benchmark  {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"# CPU: {cpu_model()}, {os.cpu_count()} cores; numpy {np.__version__}; "
          f"OpenCV: {cv2.__version__ if cv2 else 'not installed'}")
    print(f"# GPU: {'skipped: ' + gpu_reason if gpu_reason else gpu_name}")
    print(f"# native: {_native.status()}; OpenCV threads: 1")
    print(f"# task: frame -> letterbox {OUT}x{OUT}, RGB, (x/255 - mean)/std, NCHW float32; median of {reps} runs, ms")
    head = f"{'frame':>16} {'numpy':>8} {'native':>8} {'opencv':>8} {'nat/cv':>6} {'gpu':>8} {'gpu+H2D':>8} {'cv-ref max':>10} {'gpu-ref max':>11}"
    print(head)
    rows = []
    for fmt in ("bgr", "nv12"):
        for w, h in FRAMES:
            frame = make_frame(fmt, w, h, rng)
            pre = Preprocess(OUT, src_format=fmt, mean=MEAN, std=STD, device="cpu")
            row = {"format": fmt, "frame": f"{w}x{h}", "numpy_ms": best_ms(lambda: pre.reference(frame), reps)}
            if fmt == "bgr" and _native.function() is not None:
                row["native_ms"] = best_ms(lambda: fast.to_tensor(pre.spec, frame, "bgr"), reps)
                row["native_equals_numpy"] = pre(frame).tobytes() == pre.reference(frame).tobytes()
            if cv2 is not None:
                run, picture = opencv_pipeline(cv2, pre)
                row["opencv_ms"] = best_ms(lambda: run(frame), reps)
                ours = ref.place_in_box(ref.to_rgb8(frame, fmt), pre.box(w, h), OUT, OUT, 114)
                row["opencv_vs_ref_max_levels"] = int(np.abs(picture(frame).astype(int) - ours).max())
            if gpu_reason is None:
                row.update(gpu_columns(Preprocess(OUT, src_format=fmt, mean=MEAN, std=STD, device="cuda"), frame, reps))
            if "native_ms" in row and "opencv_ms" in row:
                row["native_over_opencv"] = row["native_ms"] / row["opencv_ms"]
            rows.append(row)

            def cell(key, fmt_="{:8.2f}"):
                return fmt_.format(row[key]) if key in row else f"{'-':>{len(fmt_.format(0))}}"

            print(f"{fmt + ' ' + row['frame']:>16} {cell('numpy_ms')} {cell('native_ms')} {cell('opencv_ms')} "
                  f"{cell('native_over_opencv', '{:6.2f}')} "
                  f"{cell('gpu_ms', '{:8.3f}')} "
                  f"{cell('gpu_upload_ms', '{:8.3f}')} {cell('opencv_vs_ref_max_levels', '{:10d}')} "
                  f"{cell('gpu_max_diff', '{:11.2e}')}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"# peak RSS of this process (all columns): {peak:.0f} MiB")
    bad = [r for r in rows if r.get("gpu_max_diff", 0.0) > 1e-3]
    for r in bad:
        print(f"FAILED: GPU output differs from the numpy reference by {r['gpu_max_diff']:.3g} for "
              f"{r['format']} {r['frame']} (allowed 1e-3)")
    for r in rows:
        if r.get("native_equals_numpy") is False:
            bad.append(r)
            print(f"FAILED: the native output differs from the numpy reference for {r['format']} {r['frame']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_model(), "cores": os.cpu_count(), "gpu_skipped": gpu_reason, "peak_rss_mib": peak,
                       "rows": rows}, f,
                      indent=2)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
