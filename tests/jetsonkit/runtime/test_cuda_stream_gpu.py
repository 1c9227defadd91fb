"""The CUDA machinery of the TensorRT runner, driven by a small CUDA kernel standing in for the engine.

Runs on any NVIDIA GPU with pycuda and nvcc (``pytest -m gpu``); no TensorRT needed. Skipped without a GPU.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gpu

KERNEL = r"""
extern "C" __global__ void affine(const float* x, float* y, int n, int spin) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float acc = x[i];
    for (int k = 0; k < spin; ++k) acc = acc * 0.5f + x[i] * 0.5f;   // stays x[i]: busy work, same value
    y[i] = 2.0f * acc + 1.0f;
}
"""


@pytest.fixture(scope="module")
def gpu():
    pytest.importorskip("pycuda.driver", reason="pycuda not installed (pip install 'jetsonkit[tensorrt]')")
    from jetsonkit.runtime.cuda_stream import CudaDevice

    device = CudaDevice(0)
    with device.active():
        from pycuda.compiler import SourceModule

        module = SourceModule(KERNEL, no_extern_c=True)
        kernel = module.get_function("affine")
    return device, kernel


def _enqueue(kernel, n, spin):
    def run(slot, stream):
        kernel(np.uintp(slot.inputs["x"].device_ptr), np.uintp(slot.outputs["y"].device_ptr), np.int32(n),
               np.int32(spin), block=(256, 1, 1), grid=((n + 255) // 256, 1), stream=stream)
        return {"y": (n,)}
    return run


def _pipeline(device, n, **kw):
    from jetsonkit.runtime.cuda_stream import Pipeline

    return Pipeline(device, {"x": n * 4, "y": n * 4}, ["x"], ["y"], **kw)


def test_buffers_round_trip(gpu):
    device, _ = gpu
    from jetsonkit.runtime.cuda_stream import HostDeviceBuffer

    with device.active():
        buf = HostDeviceBuffer(device.cuda, 4096)
        stream = device.cuda.Stream()
        data = np.arange(1024, dtype=np.float32)
        np.copyto(buf.view((1024,), np.float32), data)
        buf.to_device(4096, stream)
        buf.view((1024,), np.float32)[:] = 0
        buf.to_host(4096, stream)
        stream.synchronize()
        np.testing.assert_array_equal(buf.view((1024,), np.float32), data)


@pytest.mark.parametrize("overlap,zero_copy", [(True, False), (False, False), (True, True)],
                         ids=["double-buffered", "naive", "zero-copy"])
def test_pipeline_outputs_and_timing(gpu, overlap, zero_copy):
    device, kernel = gpu
    if zero_copy and not device.can_map_host_memory:
        pytest.skip(f"{device.name} cannot map host memory")
    n = 1 << 16
    pipe = _pipeline(device, n, overlap=overlap, zero_copy=zero_copy)
    frames = [np.random.default_rng(i).standard_normal(n).astype(np.float32) for i in range(8)]
    handles = [pipe.submit({"x": f}, {"y": np.dtype(np.float32)}, _enqueue(kernel, n, 16))
               for f in frames]
    for f, h in zip(frames, handles):
        out = h.wait()
        np.testing.assert_allclose(out["y"], 2 * f + 1, rtol=1e-6, atol=1e-6)
        assert h.wait() is out and h.done()
    summary = pipe.timing.summary_ms()
    assert summary["compute"]["mean"] > 0 and len(pipe.timing.samples["h2d"]) == 8


def test_double_buffering_overlaps_copy_in_with_compute(gpu):
    device, kernel = gpu
    n = 1 << 22  # 16 MiB per copy
    pipe = _pipeline(device, n, overlap=True, depth=2)
    x = np.ones(n, np.float32)
    run = _enqueue(kernel, n, 4000)
    first = pipe.submit({"x": x}, {"y": np.dtype(np.float32)}, run)
    second = pipe.submit({"x": x}, {"y": np.dtype(np.float32)}, run)
    first.wait(), second.wait()
    slot0, slot1 = pipe.slots
    with device.active():
        # the second frame's copy-in started before the first frame's compute ended: they overlapped on the GPU
        assert slot1.events["start"].time_since(slot0.events["compute"]) < 0


def test_cuda_graph_replay_matches_plain_enqueue(gpu):
    device, kernel = gpu
    from jetsonkit.runtime.cuda_stream import GraphCache

    n = 4096
    pipe = _pipeline(device, n, overlap=True)
    graphs = GraphCache(device.cuda)
    plain = _enqueue(kernel, n, 8)

    def graphed(slot, stream):
        graphs.run((slot.index,), stream, lambda s: plain(slot, s))
        return {"y": (n,)}

    if graphs.disabled:
        pytest.skip(graphs.disabled)
    x = np.linspace(-1, 1, n, dtype=np.float32)
    outs = [pipe.submit({"x": x * k}, {"y": np.dtype(np.float32)}, graphed).wait() for k in range(4)]
    assert len(graphs) == 2  # one graph per slot, replayed afterwards
    for k, out in enumerate(outs):
        np.testing.assert_allclose(out["y"], 2 * x * k + 1, rtol=1e-6)


def test_request_on_the_callers_stream(gpu):
    device, kernel = gpu
    n = 1 << 12
    pipe = _pipeline(device, n, overlap=True)
    with device.active():
        stream = device.cuda.Stream()
    x = np.arange(n, dtype=np.float32)
    out = pipe.submit({"x": x}, {"y": np.dtype(np.float32)}, _enqueue(kernel, n, 1), stream=stream).wait()
    np.testing.assert_allclose(out["y"], 2 * x + 1)
