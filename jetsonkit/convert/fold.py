"""Fold what does not depend on the input's values (shape arithmetic) to constants, for a fixed input shape.

A node is foldable when every input is a constant or a foldable node's output, or when it is a ``Shape`` of a
tensor whose shape is known after ONNX shape inference (batch fixed to 1). The foldable nodes are evaluated once with
ONNX's reference evaluator (``onnx.reference``, numpy), each ``Shape`` replaced by its known value, and removed;
the values their readers need become initializers. The TFLite model keeps a dynamic batch where the lowering allows
(every Reshape / Expand target is the inferred shape with the batch left at -1).
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError

_NEVER = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"}


def _foldable(model, shapes: dict) -> tuple[list, set]:
    known = {i.name for i in model.graph.initializer}
    nodes = []
    for n in model.graph.node:
        if n.domain not in ("", "ai.onnx") or n.op_type in _NEVER:
            continue
        if n.op_type == "Shape" and n.input[0] not in known:
            ok = n.input[0] in shapes
        else:
            ok = all(i in known for i in n.input if i)
        if ok:
            nodes.append(n)
            known.update(n.output)
    return nodes, known


def _shape_value(onnx, n, shapes: dict) -> np.ndarray:
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
    dims = list(shapes[n.input[0]])
    start, end = attrs.get("start", 0), attrs.get("end", len(dims))
    return np.asarray(dims[start:end], np.int64)


def fold_constants(onnx, model, shapes: dict):
    """``model`` with its constant sub-graphs folded (the same object when there is nothing to fold)."""
    nodes, _ = _foldable(model, shapes)
    folded = {id(n) for n in nodes}
    rest = [n for n in model.graph.node if id(n) not in folded]
    read = {i for n in rest for i in n.input} | {o.name for o in model.graph.output}
    needed = [o for n in nodes for o in n.output if o in read]
    if not any(n.op_type != "Constant" for n in nodes) or not needed:
        return model
    from onnx.reference import ReferenceEvaluator

    sub_nodes, known = [], {i.name for i in model.graph.initializer}
    for n in nodes:
        if n.op_type == "Shape" and n.input[0] not in known:
            value = onnx.numpy_helper.from_array(_shape_value(onnx, n, shapes), n.output[0])
            sub_nodes.append(onnx.helper.make_node("Constant", [], [n.output[0]], value=value))
        else:
            sub_nodes.append(n)
        known.update(n.output)
    used = {i for n in sub_nodes for i in n.input}
    inits = [i for i in model.graph.initializer if i.name in used]
    graph = onnx.helper.make_graph(sub_nodes, "fold", [], [onnx.helper.make_empty_tensor_value_info(o)
                                                            for o in needed], inits)
    sub = onnx.helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    try:
        values = ReferenceEvaluator(sub).run(None, {})
    except Exception as exc:  # noqa: BLE001 - the evaluator raises many types
        raise UnsupportedError(f"cannot fold the constant (shape) sub-graph of {len(nodes)} nodes: {exc}".replace(
            "\n", " "), hint="export with static shapes or simplify the model (onnxsim)") from exc
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    out.graph.node.extend(rest)
    keep_inits = {i for n in rest for i in n.input}
    kept = [i for i in out.graph.initializer if i.name in keep_inits]
    del out.graph.initializer[:]
    out.graph.initializer.extend(kept)
    out.graph.initializer.extend(onnx.numpy_helper.from_array(np.asarray(v), name) for name, v in zip(needed, values))
    del out.graph.value_info[:]
    return out
