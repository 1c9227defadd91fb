"""One check for every lowering test: a model through ONNX Runtime and LiteRT at fp32, fp16 and int8.

fp32 must match ONNX Runtime within float tolerance (the same arithmetic in another order: 1e-4 relative to the
output's scale). fp16 stores weights as float16 (11-bit mantissa, relative rounding 2^-11 = 4.9e-4 per weight), so
the output agrees to a cosine >= 0.9999 with margin. int8 is compared by the cosine of the flattened outputs
against the issue's floor of 0.99. int8 ranges are minmax over the calibration samples: these tests check the
lowering, not the choice of calibration method (the zoo benchmark measures the default).
"""

from __future__ import annotations

import numpy as np


def export(module, example, path, opset: int = 17, dynamic_batch: bool = True):
    import torch

    module.eval()
    torch.onnx.export(module, (example,), str(path), input_names=["input"], opset_version=opset, dynamo=False,
                      dynamic_axes={"input": {0: "batch"}} if dynamic_batch else None)
    return path


def run_onnx(path, x: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})


def run_litert(path, x: np.ndarray, per_sample: bool = False) -> list[np.ndarray]:
    """Every output of the .tflite at ``path`` (fed NHWC for 4-D inputs), in the model's output order."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=1)
    inp = it.get_input_details()[0]
    xin = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.ndim == 4 else x
    batches = [xin[i:i + 1] for i in range(len(xin))] if per_sample else [xin]
    it.resize_tensor_input(inp["index"], list(batches[0].shape))
    it.allocate_tensors()
    outs = []
    for b in batches:
        it.set_tensor(inp["index"], np.ascontiguousarray(b, dtype=inp["dtype"]))
        it.invoke()
        outs.append([it.get_tensor(o["index"]) for o in it.get_output_details()])
    return [np.concatenate([o[k] for o in outs]) for k in range(len(outs[0]))]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(-1).astype(np.float64), b.reshape(-1).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


def check_model(path, x: np.ndarray, tmp_path, *, calib: np.ndarray | None = None, int8_cos: float | None = 0.99,
                precisions=("fp32", "fp16", "int8"), per_sample: bool = False) -> dict:
    """Convert ``path`` at each precision and compare with ONNX Runtime; returns {precision: ConvertResult}."""
    from jetsonkit.convert import convert_tflite

    ref = run_onnx(path, x)
    results = {}
    for p in precisions:
        if p == "int8" and int8_cos is None:
            continue
        data = (calib if calib is not None else x) if p == "int8" else None
        r = convert_tflite(path, tmp_path / f"{path.stem}.{p}.tflite", precision=p, data=data,
                           method="minmax" if p == "int8" else None)
        got = run_litert(r.path, x, per_sample)
        assert len(got) == len(ref)
        for g, e in zip(got, ref):
            assert g.shape == e.shape, (p, g.shape, e.shape)
            scale = float(np.abs(e).max()) or 1.0
            if p == "fp32":
                np.testing.assert_allclose(g, e, atol=1e-4 * scale, rtol=1e-4, err_msg=f"{path.stem} fp32")
            elif p == "fp16":
                assert cosine(g, e) >= 0.9999, (path.stem, p, cosine(g, e))
            else:
                assert cosine(g, e) >= int8_cos, (path.stem, p, cosine(g, e), r.placement)
        results[p] = r
    return results


def check_module(module, shape, tmp_path, name: str, *, int8_cos: float = 0.99) -> dict:
    """Export ``module`` (input ``[N, *shape]``, dynamic batch), then :func:`check_model` on 4 random normal
    samples, int8 calibrated on 32 others."""
    import torch

    path = export(module, torch.zeros(1, *shape), tmp_path / f"{name}.onnx")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, *shape)).astype(np.float32)
    calib = rng.standard_normal((32, *shape)).astype(np.float32)
    return check_model(path, x, tmp_path, calib=calib, int8_cos=int8_cos)
