"""Graph clean-up after export: what TensorRT, ONNX Runtime and the TFLite converters all accept.

1. onnx-graphsurgeon: ``fold_constants()`` (subgraphs of constants evaluated with ONNX Runtime), ``cleanup()``
   (dead nodes and tensors), ``toposort()`` — the sequence NVIDIA's onnx-graphsurgeon examples use before TensorRT.
2. Stable node names: every node gets a unique, non-empty name. The legacy exporter's names are kept
   (``/features/features.0/Conv``: module paths, which is what precision overrides refer to); the dynamo exporter's
   (``node_conv2d_1``) are rebuilt in the same style from its scope metadata; an empty name becomes ``/<OpType>_<k>``
   and a repeated one gets ``_<k>``. The same model exported twice yields the same names.
3. ``onnx.shape_inference`` (data propagation on), then ``onnx.checker.check_model(path, full_check=True)``, which
   also runs strict shape inference. Both work on the file path, so models with external data (> 2 GB) are handled.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

from .._deps import require
from ..errors import CheckFailed

__all__ = ["clean_graph", "stabilize_node_names", "name_nodes_by_module", "infer_and_check", "describe_value"]


def clean_graph(model, fold_constants: bool = True):
    """The cleaned ``onnx.ModelProto``: constants folded through ONNX Runtime, dead nodes removed, sorted."""
    gs = require("onnx_graphsurgeon", purpose="ONNX graph clean-up")
    graph = gs.import_onnx(model)
    if fold_constants:
        graph.fold_constants()
    graph.cleanup().toposort()
    cleaned = gs.export_onnx(graph)
    # graphsurgeon writes its own producer; keep the exporter's metadata so the artifact says where it came from
    cleaned.producer_name, cleaned.producer_version = model.producer_name, model.producer_version
    del cleaned.metadata_props[:]
    cleaned.metadata_props.extend(model.metadata_props)
    return cleaned


def stabilize_node_names(model) -> int:
    """Give every node a unique, non-empty name in place; return how many names changed.

    An empty name becomes ``/<OpType>_<k>``; a repeated one gets ``_<k>`` appended (``/block/Add`` -> ``/block/Add_1``).
    """
    counters: Counter = Counter()
    taken = {n.name for n in model.graph.node if n.name}
    used: set[str] = set()
    changed = 0
    for node in model.graph.node:
        name = node.name
        if not name or name in used:
            stem = name or f"/{node.op_type}"
            while True:
                counters[stem] += 1
                name = f"{stem}_{counters[stem]}"
                if name not in taken and name not in used:
                    break
            node.name = name
            changed += 1
        used.add(name)
    return changed


def name_nodes_by_module(model) -> int:
    """Rename dynamo-exported nodes after the module that made them, in the legacy exporter's style; return the count.

    The dynamo exporter records each node's module scopes in the metadata ``pkg.torch.onnx.name_scopes`` (e.g.
    ``['', 'block1', 'block1.conv1', 'block1.conv1.0', 'conv2d']``: full module paths, then the FX node). The name
    becomes ``/block1/conv1/conv1.0/Conv``: one segment per module, a numbered child written ``parent.<i>`` as the
    legacy exporter does. Nodes without that metadata keep their names.
    """
    renamed = 0
    for node in model.graph.node:
        scopes = next((p.value for p in node.metadata_props if p.key == "pkg.torch.onnx.name_scopes"), None)
        path = _innermost_module(scopes)
        if path is None:
            continue
        node.name = f"{_legacy_style(path)}/{node.op_type}"
        renamed += 1
    return renamed


def _innermost_module(scopes: str | None) -> str | None:
    if not scopes:
        return None
    try:
        items = ast.literal_eval(scopes)  # a list of str literals; literal_eval evaluates no code
    except (ValueError, SyntaxError):
        return None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        return None
    return items[-2] if len(items) >= 2 else ""


def _legacy_style(path: str) -> str:
    """``layer1.0.conv1.0`` -> ``/layer1/layer1.0/conv1/conv1.0`` (a numbered child is written ``<parent>.<i>``)."""
    segments: list[str] = []
    for part in path.split(".") if path else []:
        segments.append(f"{segments[-1]}.{part}" if part.isdigit() and segments else part)
    return "".join(f"/{s}" for s in segments)


def infer_and_check(path: Path) -> None:
    """Shape inference written back to ``path``, then the full ONNX checker; CheckFailed names what is wrong."""
    onnx = require("onnx", purpose="ONNX shape inference and checking")
    try:
        onnx.shape_inference.infer_shapes_path(str(path), str(path), check_type=True, strict_mode=True,
                                               data_prop=True)
    except Exception as exc:  # onnx raises InferenceError / RuntimeError with the node in the message
        raise CheckFailed(f"ONNX shape inference failed on {path.name}: {_first_line(exc)}",
                          hint="rerun with --debug; try --exporter legacy or --exporter dynamo") from exc
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:
        raise CheckFailed(f"onnx.checker rejected {path.name}: {_first_line(exc)}",
                          hint="rerun with --debug; try --exporter legacy or --exporter dynamo") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe_value(value) -> dict:
    """``{"name", "shape", "dtype"}`` of a graph input/output; a dynamic axis shows its label (or "?")."""
    onnx = require("onnx", purpose="reading ONNX value info")
    t = value.type.tensor_type
    shape = [d.dim_param or (d.dim_value if d.HasField("dim_value") else "?") for d in t.shape.dim]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name if t.elem_type else "?"
    return {"name": value.name, "shape": shape, "dtype": dtype}
