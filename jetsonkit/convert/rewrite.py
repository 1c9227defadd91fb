"""Graph rewrites before lowering: exported decompositions back to the op TFLite has, cheap forms of arithmetic.

- GELU's Erf form, as PyTorch exports ``nn.GELU()`` (x * 0.5 * (1 + erf(x / sqrt 2)), in either multiplication
  order) -> one ``Gelu`` node (TFLite GELU, int8 kernel; ONNX Gelu exists from opset 20).
- Decomposed LayerNorm (ReduceMean, Sub, Pow 2 / Mul, ReduceMean, Add eps, Sqrt, Div; the affine Mul / Add that
  follow stay as they are) -> one ``LayerNormalization`` over the same axes.
- Div by a constant -> Mul by its reciprocal (TFLite's DIV has no int8 kernel); Pow by 2 -> Mul(x, x);
  Pow by 0.5 -> Sqrt.
"""

from __future__ import annotations

import numpy as np

from .graph import Graph, Node


def _const(graph: Graph, name: str) -> np.ndarray | None:
    return np.asarray(graph.consts[name]) if name in graph.consts else None


def _is_scalar(graph: Graph, name: str, value: float, rtol: float = 1e-4) -> bool:
    c = _const(graph, name)
    return c is not None and c.size == 1 and abs(float(c.reshape(-1)[0]) - value) <= rtol * abs(value) + 1e-7


class _Index:
    def __init__(self, graph: Graph):
        self.producer = {o: n for n in graph.nodes for o in n.outputs}
        self.readers = graph.readers()
        self.outputs = set(graph.outputs)

    def sole_reader(self, name: str, op: str) -> Node | None:
        r = self.readers.get(name, [])
        return r[0] if len(r) == 1 and r[0].op == op and name not in self.outputs else None

    def other(self, node: Node, name: str) -> str | None:
        rest = [i for i in node.inputs if i != name]
        return rest[0] if len(rest) == 1 else None


def _match_gelu(graph: Graph, ix: _Index, erf: Node):
    """(x, nodes to remove, output) when ``erf`` is the centre of a GELU, else None."""
    d = ix.producer.get(erf.inputs[0])
    if d is None or not ((d.op == "Div" and _is_scalar(graph, d.inputs[1], 2 ** 0.5))
                         or (d.op == "Mul" and _is_scalar(graph, d.inputs[1], 2 ** -0.5))):
        return None
    x = d.inputs[0]
    add = ix.sole_reader(erf.outputs[0], "Add")
    if add is None or not _is_scalar(graph, ix.other(add, erf.outputs[0]) or "", 1.0):
        return None
    m1 = ix.sole_reader(add.outputs[0], "Mul")
    if m1 is None:
        return None
    other = ix.other(m1, add.outputs[0])
    if other == x:  # (x * (1 + erf)) * 0.5
        m2 = ix.sole_reader(m1.outputs[0], "Mul")
        if m2 is None or not _is_scalar(graph, ix.other(m2, m1.outputs[0]) or "", 0.5):
            return None
        return x, [d, erf, add, m1, m2], m2.outputs[0]
    h = ix.producer.get(other or "")
    if h is not None and h.op == "Mul" and x in h.inputs and _is_scalar(graph, ix.other(h, x) or "", 0.5) and \
            len(ix.readers.get(h.outputs[0], [])) == 1:  # (x * 0.5) * (1 + erf)
        return x, [d, erf, add, h, m1], m1.outputs[0]
    return None


def _reduce_axes(graph: Graph, n: Node) -> tuple | None:
    if not n.attrs.get("keepdims", 1):
        return None
    if len(n.inputs) > 1 and n.inputs[1]:
        c = _const(graph, n.inputs[1])
        return None if c is None else tuple(int(a) for a in c.reshape(-1))
    return tuple(int(a) for a in n.attrs.get("axes", ())) or None


def _match_layernorm(graph: Graph, ix: _Index, r1: Node):
    axes = _reduce_axes(graph, r1)
    x = r1.inputs[0]
    if axes is None:
        return None
    subs = [n for n in ix.readers.get(r1.outputs[0], []) if n.op == "Sub" and n.inputs == [x, r1.outputs[0]]]
    if len(subs) != 1 or len(ix.readers[r1.outputs[0]]) != 1:
        return None
    s = subs[0]
    readers = ix.readers.get(s.outputs[0], [])
    sq = [n for n in readers if (n.op == "Pow" and _is_scalar(graph, n.inputs[1], 2.0))
          or (n.op == "Mul" and n.inputs == [s.outputs[0], s.outputs[0]])]
    div = [n for n in readers if n.op == "Div" and n.inputs[0] == s.outputs[0]]
    if len(readers) != 2 or len(sq) != 1 or len(div) != 1:
        return None
    r2 = ix.sole_reader(sq[0].outputs[0], "ReduceMean")
    if r2 is None or _reduce_axes(graph, r2) != axes:
        return None
    add = ix.sole_reader(r2.outputs[0], "Add")
    eps = _const(graph, ix.other(add, r2.outputs[0]) or "") if add is not None else None
    if eps is None or eps.size != 1:
        return None
    root = ix.sole_reader(add.outputs[0], "Sqrt")
    if root is None or div[0].inputs[1] != root.outputs[0] or root.outputs[0] in ix.outputs:
        return None
    return x, axes, float(eps.reshape(-1)[0]), [r1, s, sq[0], r2, add, root, div[0]], div[0].outputs[0]


def _fuse_patterns(graph: Graph) -> None:
    ix = _Index(graph)
    drop: set[int] = set()
    place: dict[int, Node] = {}  # id of the last removed node -> replacement
    for n in list(graph.nodes):
        if id(n) in drop:
            continue
        if n.op == "Erf" and (m := _match_gelu(graph, ix, n)):
            x, nodes, out = m
            new = Node("Gelu", n.name + "/gelu", [x], [out], {"approximate": "none"})
        elif n.op == "ReduceMean" and (m := _match_layernorm(graph, ix, n)):
            x, axes, eps, nodes, out = m
            gamma = n.name + "/ln_gamma"
            graph.consts[gamma] = np.ones(1, np.float32)
            new = Node("LayerNormalization", n.name + "/layernorm", [x, gamma], [out],
                       {"epsilon": eps, "_axes": list(axes)})
        else:
            continue
        if any(id(k) in drop for k in nodes):
            continue
        drop.update(id(k) for k in nodes)
        place[id(nodes[-1])] = new
    graph.nodes = [place.get(id(n), n) for n in graph.nodes if id(n) not in drop or id(n) in place]


def _simplify_arithmetic(graph: Graph) -> None:
    for n in graph.nodes:
        if n.op == "Div" and n.inputs[1] in graph.consts:
            c = np.asarray(graph.consts[n.inputs[1]])
            if c.dtype.kind == "f" and np.all(c != 0):
                name = n.inputs[1] + "/reciprocal"
                graph.consts[name] = (1.0 / c).astype(np.float32)
                n.op, n.inputs = "Mul", [n.inputs[0], name]
        elif n.op == "Pow" and _is_scalar(graph, n.inputs[1], 2.0, rtol=0):
            n.op, n.inputs = "Mul", [n.inputs[0], n.inputs[0]]
        elif n.op == "Pow" and _is_scalar(graph, n.inputs[1], 0.5, rtol=0):
            n.op, n.inputs = "Sqrt", [n.inputs[0]]


def rewrite(graph: Graph) -> None:
    """Apply the rewrites of the module docstring to ``graph`` in place."""
    _fuse_patterns(graph)
    _simplify_arithmetic(graph)
