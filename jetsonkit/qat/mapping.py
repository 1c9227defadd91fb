"""Map the Q/DQ stage's ONNX sites back to the PyTorch modules that compute them.

Why this mapping, and why it is exact where it claims to be:

- The sites come from :func:`jetsonkit.quantize.placement.quant_sites` run on the model exported by
  :func:`jetsonkit.export.export_onnx` — the very function and graph ``jetsonkit quantize`` uses — so QAT
  quantizes the same tensors the post-training path does, with the same precision plan applied.
- A weighted ONNX node (Conv / ConvTranspose / Gemm / MatMul) is matched to its module by the weight initializer's
  name, which the TorchScript exporter keeps as the parameter's name (``features.0.weight``); when it is renamed
  (a BatchNorm folded in by the exporter, a transposed MatMul weight) by the node's scope, which the exporter builds
  from the module path (``/layer1/layer1.0/conv1/Conv`` -> ``layer1.0.conv1``). The module type must fit the op.
- The data input (input 0) of that node is the tensor the module receives as its first argument, so a forward
  pre-hook on the module quantizes exactly that edge; a site shared by several consumers gets one quantizer
  (one scale) shared by their hooks, as the Q/DQ stage puts one Q/DQ pair on the tensor.
- An AveragePool / GlobalAveragePool input is matched the same way to an ``nn.AvgPool*`` / ``nn.AdaptiveAvgPool*``.
- Other consumers (a residual ``x + y``, a ``q @ k`` MatMul of two activations, a functional pooling call) are
  plain Python in ``forward``. Such a site is still simulated exactly when its tensor is the output of a leaf
  module (an ``nn.ReLU``, an ``nn.MaxPool2d``) that is the only node of its scope and is called once per forward,
  and every consumer of the tensor is one the Q/DQ stage rewires: a forward hook then quantizes that output for
  all its users, which is what the one Q/DQ pair does. Otherwise (a functional ``torch.relu`` producer, the
  graph input, a reused module) the site is reported as not simulated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._deps import require
from ..quantize.placement import POOL_OPS, WEIGHTED_OPS, QuantSite, node_names

__all__ = ["SiteMap", "map_sites", "module_for_node", "scope_module_path", "weighted_kind"]


@dataclass
class SiteMap:
    """Where each site lives in torch: weights -> (module, output-channel axis); module inputs -> activation site."""

    weights: dict[str, tuple[str, int]] = field(default_factory=dict)  # weight tensor -> (module, torch axis)
    inputs: dict[str, str] = field(default_factory=dict)  # module -> activation tensor quantized at its input
    node_modules: dict[str, str] = field(default_factory=dict)  # ONNX node -> module
    outputs: dict[str, str] = field(default_factory=dict)  # module -> activation tensor quantized at its output
    unmapped: dict[str, list[str]] = field(default_factory=dict)  # site tensor -> consumers with no module

    def mapped_activation_sites(self) -> set[str]:
        return set(self.inputs.values())


def weighted_kind(module: Any) -> tuple[str, int] | None:
    """(ONNX op family, output-channel axis of the torch weight) for Conv / ConvTranspose / Linear, else None."""
    nn = require("torch").nn
    if isinstance(module, nn.modules.conv._ConvNd):
        return ("ConvTranspose", 1) if module.transposed else ("Conv", 0)
    if isinstance(module, nn.Linear):
        return "Linear", 0
    return None


def _fits(op: str, module: Any) -> bool:
    kind = weighted_kind(module)
    if op in POOL_OPS:
        nn = require("torch").nn
        pools = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
                 nn.AdaptiveAvgPool3d)
        return isinstance(module, pools)
    if kind is None:
        return False
    return kind[0] == op or (kind[0] == "Linear" and op in ("Gemm", "MatMul"))


def scope_module_path(node_name: str) -> list[str]:
    """Candidate module paths for a TorchScript-exported node name, most specific first.

    ``/layer1/layer1.0/conv1/Conv`` -> ``["layer1.0.conv1", "conv1"]``: each scope component is either a full
    dotted path that extends the one before (``layer1.0``) or a child name to append (``conv1``).
    """
    parts = [p for p in node_name.strip("/").split("/")[:-1] if p]
    if not parts:
        return []
    path = parts[0]
    for p in parts[1:]:
        path = p if p.startswith(path + ".") else f"{path}.{p}"
    return list(dict.fromkeys([path, parts[-1]]))


def module_for_node(node: Any, name: str, modules: dict[str, Any], params: dict[str, str]) -> str | None:
    """The module that computes ONNX ``node`` (named ``name``), or None when no module fits."""
    if node.op_type in WEIGHTED_OPS and len(node.input) > 1:
        owner = params.get(node.input[1])
        if owner is not None and _fits(node.op_type, modules[owner]):
            return owner
    for path in scope_module_path(name):
        if path in modules and _fits(node.op_type, modules[path]):
            return path
    return None


def map_sites(proto: Any, model: Any, sites: list[QuantSite]) -> SiteMap:
    """Match every site of ``proto`` (exported from ``model``) to the module hooks that reproduce it."""
    modules = dict(model.named_modules())
    params = {f"{m}.weight": m for m, mod in modules.items() if getattr(mod, "weight", None) is not None}
    nodes = dict(zip(node_names(proto), proto.graph.node))
    result = SiteMap()
    calls: dict[str, list[str]] = {}
    for name, node in nodes.items():
        if node.op_type in WEIGHTED_OPS or node.op_type in POOL_OPS:
            owner = module_for_node(node, name, modules, params)
            if owner is not None:
                result.node_modules[name] = owner
                calls.setdefault(owner, []).append(name)
    for owner, names in calls.items():  # a module called twice cannot tell its calls apart in a hook
        if len(names) > 1:
            for n in names:
                result.node_modules.pop(n)
    for site in sites:
        for consumer in site.consumers:
            owner = result.node_modules.get(consumer)
            node = nodes[consumer]
            if site.kind == "weight":
                if owner is not None and len(node.input) > 1 and node.input[1] == site.tensor:
                    result.weights[site.tensor] = (owner, weighted_kind(modules[owner])[1])
                else:
                    result.unmapped.setdefault(site.tensor, []).append(consumer)
            elif owner is not None and node.input[0] == site.tensor:
                result.inputs.setdefault(owner, site.tensor)  # one data input per call: one site per module
            else:
                result.unmapped.setdefault(site.tensor, []).append(consumer)
    _map_producers(proto, modules, nodes, sites, result)
    return result


def _map_producers(proto: Any, modules: dict, nodes: dict, sites: list[QuantSite], result: SiteMap) -> None:
    """Move sites with functional consumers onto their producer module's output where that is exact."""
    scopes: dict[str, list[str]] = {}
    for name in nodes:
        paths = scope_module_path(name)
        if paths:
            scopes.setdefault(paths[0], []).append(name)
    producers = {o: n for n, node in nodes.items() for o in node.output}
    consumers: dict[str, set[str]] = {}
    for name, node in nodes.items():
        for t in node.input:
            consumers.setdefault(t, set()).add(name)
    outputs = {o.name for o in proto.graph.output}
    for site in sites:
        if site.tensor not in result.unmapped or site.tensor in outputs:
            continue
        producer = producers.get(site.tensor)
        path = scope_module_path(producer)[0] if producer and scope_module_path(producer) else None
        module = modules.get(path) if path else None
        if module is None or list(module.children()) or scopes.get(path) != [producer]:
            continue
        if consumers.get(site.tensor, set()) != set(site.consumers):
            continue
        result.outputs[path] = site.tensor  # the caller confirms it runs once, then drops the site's other hooks
