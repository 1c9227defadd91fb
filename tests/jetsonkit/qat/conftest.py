"""Fixtures of the QAT tests: the sensitive MNIST CNN exported, calibrated and quantized by the post-training path."""

from __future__ import annotations

import pytest


def ptq_path(model, example, calib_x, folder, name, plan=None):
    """What `jetsonkit export` + `calibrate` + `quantize` produce: (fp32 onnx, table, Q/DQ onnx path)."""
    from jetsonkit.calibrate import calibrate
    from jetsonkit.export import export_onnx
    from jetsonkit.quantize.qdq import quantize_qdq

    fp32 = folder / f"{name}.onnx"
    export_onnx(model, example, fp32, input_names=["input"], dynamic=True, random_trials=1)
    table = calibrate(fp32, calib_x, "entropy")
    qdq = folder / f"{name}.qdq.onnx"
    quantize_qdq(fp32, table, qdq, plan=plan)
    return fp32, table, qdq


@pytest.fixture(scope="session")
def sensitive_ptq(session_tmp, mnist_train_1k):
    import torch

    from jetsonkit.examples import sensitive

    return ptq_path(sensitive.build_model(), torch.zeros(1, 1, 28, 28), mnist_train_1k[0], session_tmp, "qat_sensitive")


@pytest.fixture
def sensitive_model():
    from jetsonkit.examples import sensitive

    return sensitive.build_model()


def structure(path):
    """Everything of a Q/DQ graph but the values: nodes (op, name, inputs, outputs, attributes), initializer
    names / types / shapes, graph inputs and outputs."""
    import onnx

    m = onnx.load(str(path))
    nodes = [(n.op_type, n.name, tuple(n.input), tuple(n.output),
              tuple(sorted((a.name, onnx.helper.get_attribute_value(a)) for a in n.attribute
                           if a.type != onnx.AttributeProto.TENSOR)))
             for n in m.graph.node]
    inits = sorted((t.name, t.data_type, tuple(t.dims)) for t in m.graph.initializer)
    io = ([i.name for i in m.graph.input], [o.name for o in m.graph.output])
    return nodes, inits, io


def initializer(path, name):
    import onnx

    m = onnx.load(str(path))
    return next(onnx.numpy_helper.to_array(t) for t in m.graph.initializer if t.name == name)


def short_train(model, x, y, steps, lr=1e-3, scale_lr=1e-2):
    from jetsonkit.qat import finetune
    from jetsonkit.sparsity.torchdata import batches

    return finetune(model, batches(x, y, 64), lr=lr, scale_lr=scale_lr, max_steps=steps)
