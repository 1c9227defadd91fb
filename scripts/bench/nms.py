#!/usr/bin/env python3
"""NMS on the Pi path: in the .tflite (NON_MAX_SUPPRESSION_V5 per class) vs numpy after LiteRT, side by side.

The bundled detector (``jetsonkit.examples.detector``) is exported, given the ONNX NonMaxSuppression tail
(``jetsonkit.detect.onnx_nms``) and converted to fp32 .tflite with and without it. On held-back ``mnist_det`` test
images, batch 1, one thread, interleaved image by image, through ``Runtime``:

- ``litert+numpy``: the .tflite without NMS, then ``class_nms(decode_one(...))`` in numpy;
- ``litert in-graph``: the .tflite with NMS, then ``detections_from_indices`` (gathering boxes by index);
- the same two on ONNX Runtime (its own NonMaxSuppression kernel).

Two settings: deployment (score 0.25, IoU 0.7) and evaluation (score 0.001, IoU 0.7: many candidates). Agreement:
images whose in-graph LiteRT detections equal the numpy NMS of the same LiteRT output (``Detections.same_as``,
1e-4), and whose rows equal ONNX Runtime's NonMaxSuppression rows. Median ms per image; peak RSS of the process.

    python scripts/bench/nms.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from jetsonkit.doctor import cpu_name

SETTINGS = {"deploy": (0.25, 0.7), "eval": (0.001, 0.7)}


def build(tmp: Path, score: float, iou: float, name: str) -> dict:
    from jetsonkit.convert.tflite import convert_tflite
    from jetsonkit.detect.onnx_nms import add_nms_tail

    plain = tmp / "det.onnx"
    if not plain.exists():
        from jetsonkit.examples import detector
        from jetsonkit.export import export_onnx

        export_onnx(detector.build_model(), detector.example_input(), plain, input_names=[detector.INPUT_NAME],
                    output_names=[detector.OUTPUT_NAME], dynamic=True, parity=False)
        convert_tflite(plain, tmp / "det.tflite")
    tail = add_nms_tail(plain, tmp / f"{name}.onnx", iou=iou, score=score)
    convert_tflite(tail, tmp / f"{name}.tflite")
    return {"onnx": plain, "tflite": tmp / "det.tflite", "onnx_nms": tail, "tflite_nms": tmp / f"{name}.tflite"}


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t) * 1e3


def run_setting(paths: dict, x: np.ndarray, score: float, iou: float) -> dict:
    from jetsonkit.detect.onnx_nms import SELECTED, detections_from_indices
    from jetsonkit.detect.postprocess import class_nms, decode_one
    from jetsonkit.runtime import Runtime

    names = ("litert_numpy", "litert_ingraph", "ort_numpy", "ort_ingraph")
    ms = {k: [] for k in names}
    invoke = {"litert": [], "litert_nms": []}
    agree = {"ingraph_vs_numpy": 0, "rows_vs_ort": 0, "ingraph_vs_ort_numpy": 0}
    counts = []
    rts = {"litert": Runtime.open(paths["tflite"], threads=1), "litert_nms": Runtime.open(paths["tflite_nms"], threads=1),
           "ort": Runtime.open(paths["onnx"], threads=1), "ort_nms": Runtime.open(paths["onnx_nms"], threads=1)}
    try:
        nhwc = x.transpose(0, 2, 3, 1).copy()
        for k in range(len(x)):
            xi, hi = x[k:k + 1], nhwc[k:k + 1]
            t0 = time.perf_counter()
            out, t_inv = timed(lambda: rts["litert"].infer(hi)["output0"])
            ref = class_nms(decode_one(out[0], conf=score), iou=iou)
            ms["litert_numpy"].append((time.perf_counter() - t0) * 1e3)
            invoke["litert"].append(t_inv)
            t0 = time.perf_counter()
            got, t_inv = timed(lambda: rts["litert_nms"].infer(hi))
            mine = detections_from_indices(got["output0"], got[SELECTED])[0]
            ms["litert_ingraph"].append((time.perf_counter() - t0) * 1e3)
            invoke["litert_nms"].append(t_inv)
            t0 = time.perf_counter()
            oo = rts["ort"].infer(xi)["output0"]
            ort_ref = class_nms(decode_one(oo[0], conf=score), iou=iou)
            ms["ort_numpy"].append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            want = rts["ort_nms"].infer(xi)
            detections_from_indices(want["output0"], want[SELECTED])
            ms["ort_ingraph"].append((time.perf_counter() - t0) * 1e3)
            own_numpy = class_nms(decode_one(got["output0"][0], conf=score), iou=iou)
            agree["ingraph_vs_numpy"] += mine.same_as(own_numpy)
            agree["rows_vs_ort"] += np.array_equal(got[SELECTED], want[SELECTED])
            agree["ingraph_vs_ort_numpy"] += mine.same_as(ort_ref, atol=2e-3)
            counts.append(len(mine))
            del ref
    finally:
        for rt in rts.values():
            rt.close()
    warm = slice(1, None)  # first call: allocation
    return {"median_ms": {k: round(float(np.median(v[warm])), 4) for k, v in ms.items()},
            "median_invoke_ms": {k: round(float(np.median(v[warm])), 4) for k, v in invoke.items()},
            "agreement": {k: f"{v}/{len(x)}" for k, v in agree.items()},
            "detections_per_image": {"mean": round(float(np.mean(counts)), 2), "max": int(max(counts))}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="50 images instead of 300")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    from jetsonkit.detect.evaluate import letterboxed, load_detection_data

    n = 50 if args.quick else 300
    data = load_detection_data(f"mnist_det:test:{n}")
    x, _ = letterboxed(data.frames, (96, 96))
    result = {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu_name(),
              "images": n, "settings": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (score, iou) in SETTINGS.items():
            paths = build(Path(tmp), score, iou, name)
            result["settings"][name] = {"score": score, "iou": iou, **run_setting(paths, x, score, iou)}
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    for name, r in result["settings"].items():
        print(f"{name} (score {r['score']}, IoU {r['iou']}): per image median ms {r['median_ms']}; "
              f"invoke only {r['median_invoke_ms']}; agreement {r['agreement']}; detections {r['detections_per_image']}")
    print(f"peak RSS {result['peak_rss_mib']} MiB; {result['date']}; {result['cpu']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
