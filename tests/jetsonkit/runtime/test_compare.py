"""jetsonkit compare: pass (ONNX vs its NHWC .tflite), fail (a broken Q/DQ model), and the first diverging layer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jetsonkit.cli import main
from jetsonkit.compare import compare, metrics

from .test_frame import pair, small_net  # noqa: F401 - the module fixture `pair` is used below

onnx = pytest.importorskip("onnx")


def qdq(src, dst, amax: dict[str, float], broken: str | None = None):
    """``src`` with QuantizeLinear -> DequantizeLinear (int8, scale amax / 127) on the activations in ``amax``
    before their consumers; ``broken``'s scale multiplied by 100 (the classic wrong-range bug)."""
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    g = model.graph
    new_nodes = []
    for t, a in amax.items():
        scale = np.float32(a / 127 * (100 if t == broken else 1))
        g.initializer.extend([numpy_helper.from_array(np.array(scale, np.float32), f"{t}_s"),
                              numpy_helper.from_array(np.array(0, np.int8), f"{t}_z")])
        new_nodes += [helper.make_node("QuantizeLinear", [t, f"{t}_s", f"{t}_z"], [f"{t}_q"], name=f"{t}_Q"),
                      helper.make_node("DequantizeLinear", [f"{t}_q", f"{t}_s", f"{t}_z"], [f"{t}_dq"],
                                       name=f"{t}_DQ")]
    for node in g.node:
        if node.op_type == "Conv":
            node.input[0] = f"{node.input[0]}_dq"
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(new_nodes[:2] + nodes[:2] + new_nodes[2:] + nodes[2:])  # x's Q/DQ first, r1's after Relu 1
    for i, node in enumerate(g.node):
        node.name = node.name or f"{node.op_type}_{i}"
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return dst


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import onnxruntime as ort

    folder = tmp_path_factory.mktemp("compare")
    ref = small_net(folder / "float.onnx")
    m = onnx.load(str(ref))
    for i, node in enumerate(m.graph.node):
        node.name = f"{node.op_type}_{i}"
    m.graph.output.append(onnx.helper.make_tensor_value_info("r1", onnx.TensorProto.FLOAT, None))
    onnx.save(m, str(folder / "probe.onnx"))
    x = np.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype(np.float32)
    r1 = ort.InferenceSession(str(folder / "probe.onnx")).run(["r1"], {"x": x})[0]
    m.graph.output.pop()
    onnx.save(m, str(ref))
    amax = {"x": float(np.abs(x).max()), "r1": float(r1.max())}
    return {"ref": ref, "good": qdq(ref, folder / "good_qdq.onnx", amax),
            "broken": qdq(ref, folder / "broken_qdq.onnx", amax, broken="r1")}


def test_metrics_arithmetic():
    a = np.array([1.0, -2.0, 4.0])
    m = metrics("y", a, a + np.array([0.0, 0.1, 0.0]), atol=0.05, rtol=0.0)
    assert m.max_abs == pytest.approx(0.1) and m.max_rel == pytest.approx(0.05) and not m.passed
    assert m.sqnr_db == pytest.approx(10 * np.log10(21 / 0.01))
    assert metrics("y", a, a, 0, 0).passed and metrics("y", a, a, 0, 0).cosine == pytest.approx(1.0)


def test_onnx_and_its_tflite_pass(pair, capsys):  # noqa: F811 - pytest fixture
    report = compare(list(pair), random=3, atol=1e-4, rtol=1e-4)
    assert report.passed and report.samples == 3
    (ms,) = report.candidates.values()
    assert ms[0].max_abs < 1e-4 and ms[0].cosine > 0.99999
    assert main(["compare", str(pair[0]), str(pair[1]), "--random", "2", "--atol", "1e-4", "--quiet"]) == 0


def test_broken_qdq_fails_with_exit_1_and_names_the_first_diverging_layer(models, capsys):
    report = compare([models["ref"], models["good"], models["broken"]], random=4, atol=1e-3, rtol=1e-3,
                     per_tensor=True)
    good, broken = (report.candidates[str(models[k])][0] for k in ("good", "broken"))
    assert not good.passed and not broken.passed  # int8 rounding is beyond 1e-3 ...
    assert good.sqnr_db > 20 > broken.sqnr_db  # ... but only the broken scale destroys the signal
    assert str(models["good"]) not in report.first_divergence  # quantization noise is no jump
    div = report.first_divergence[str(models["broken"])]
    assert div["tensor"] == "c2" and div["op"] == "Conv"  # the conv fed by the 100x-too-coarse r1 Q/DQ
    assert div["rel_l2"] > 10 * div["input_rel_l2"]
    code = main(["compare", str(models["ref"]), str(models["broken"]), "--random", "2", "--per-tensor", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["passed"] is False and out["first_divergence"][str(models["broken"])]["tensor"] == "c2"


def test_loose_tolerance_passes_the_good_qdq_model(models):
    assert compare([models["ref"], models["good"]], random=2, atol=0.5, rtol=0.1).passed


def test_compare_needs_inputs_and_two_models(models, pair, capsys):  # noqa: F811 - pytest fixture
    assert main(["compare", str(models["ref"]), str(models["good"]), "--quiet"]) == 2
    assert main(["compare", str(pair[1]), str(pair[0]), "--random", "1", "--per-tensor", "--quiet"]) == 2
    assert main(["compare", str(models["ref"]), "--random", "1", "--quiet"]) == 2
