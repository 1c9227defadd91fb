"""The TensorRT runner on a real engine built from the MNIST ONNX model (``pytest -m tensorrt``)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.tensorrt, pytest.mark.gpu]


def _network_flags(trt) -> int:
    """Explicit batch: a flag before TensorRT 10, the only mode from 10 on."""
    if int(trt.__version__.split(".")[0]) >= 10:
        return 0
    return 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)


@pytest.fixture(scope="module")
def mnist_engine(mnist_onnx, tmp_path_factory):
    """An FP32 engine with two optimization profiles (batch 1..4 and 5..64), built with TensorRT's own builder."""
    trt = pytest.importorskip("tensorrt")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    assert parser.parse(mnist_onnx.read_bytes())
    config = builder.create_builder_config()
    for low, high in ((1, 4), (5, 64)):
        profile = builder.create_optimization_profile()
        profile.set_shape("input", (low, 1, 28, 28), (high, 1, 28, 28), (high, 1, 28, 28))
        config.add_optimization_profile(profile)
    data = builder.build_serialized_network(network, config)
    path = tmp_path_factory.mktemp("trt") / "mnist.engine"
    path.write_bytes(bytes(data))
    return path


def test_engine_agrees_with_torch_across_profiles(mnist_engine, mnist_reference):
    from jetsonkit.runtime import Runtime

    x, _, ref = mnist_reference
    with Runtime.open(mnist_engine, check_sidecar=False, contexts=2) as rt:
        assert rt.inputs[0].min_shape == (1, 1, 28, 28) and rt.inputs[0].max_shape == (64, 1, 28, 28)
        for n in (1, 4, 5, 64):
            np.testing.assert_allclose(rt.infer(x[:n])["logits"], ref[:n], atol=1e-3)
        handles = [rt.infer_async(x[i:i + 2]) for i in range(0, 16, 2)]
        got = np.concatenate([h.wait()["logits"] for h in handles])
        np.testing.assert_allclose(got, ref[:16], atol=1e-3)
        assert rt.timing.summary_ms()["compute"]["mean"] > 0


def test_engine_shape_outside_profiles_and_corrupted_file(mnist_engine, tmp_path):
    from jetsonkit.errors import InputSpecError, ModelLoadError
    from jetsonkit.runtime import Runtime

    with Runtime.open(mnist_engine, check_sidecar=False) as rt:
        with pytest.raises(InputSpecError, match="optimization profile"):
            rt.infer(np.zeros((65, 1, 28, 28), np.float32))
    bad = tmp_path / "bad.engine"
    bad.write_bytes(mnist_engine.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match="cannot deserialize"):
        Runtime.open(bad, check_sidecar=False)


def test_engine_threads_match_sequential(mnist_engine, mnist_reference):
    import threading

    from jetsonkit.runtime import Runtime

    x, _, _ = mnist_reference
    with Runtime.open(mnist_engine, check_sidecar=False, contexts=2) as rt:
        seq = [rt.infer(x[i:i + 1])["logits"] for i in range(32)]
        got = {}

        def work(k):
            for i in range(k, 32, 4):
                got[i] = rt.infer(x[i:i + 1])["logits"]

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    for i in range(32):
        np.testing.assert_array_equal(got[i], seq[i])


def test_static_engine_with_cuda_graphs_matches_plain(mnist_model, mnist_reference, tmp_path):
    import torch

    trt = pytest.importorskip("tensorrt")
    from jetsonkit.runtime import Runtime

    onnx_path = tmp_path / "static.onnx"
    torch.onnx.export(mnist_model, (torch.zeros(1, 1, 28, 28),), str(onnx_path), input_names=["input"],
                      output_names=["logits"], opset_version=17, dynamo=False)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)  # owns the weights: alive until the build returns
    assert parser.parse(onnx_path.read_bytes())
    engine = tmp_path / "static.engine"
    engine.write_bytes(bytes(builder.build_serialized_network(network, builder.create_builder_config())))
    x, _, ref = mnist_reference
    with Runtime.open(engine, check_sidecar=False, cuda_graph=True) as rt:
        outs = [rt.infer(x[i:i + 1])["logits"] for i in range(8)]  # slots warm up, then graphs replay
        graphs = rt._contexts[0].graphs
        assert len(graphs) == 2 or graphs.disabled  # without cuda-python: plain enqueue, said once
        handle = rt.infer_async(x[8:9])
        np.testing.assert_allclose(handle.wait()["logits"], ref[8:9], atol=1e-3)
    np.testing.assert_allclose(np.concatenate(outs), ref[:8], atol=1e-3)
