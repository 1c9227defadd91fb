"""Channel permutation before 2:4 pruning: keep more weight magnitude under the mask, same function.

Idea (Pool & Yu, "Channel Permutations for N:M Sparsity", NeurIPS 2021; NVIDIA ASP ``permutation_lib``): the 2:4
groups are 4 *consecutive* input channels, so reordering a layer's input channels changes which weights compete
for the 2 kept places. Reordering the consumer's input channels, the producing layer's output channels (weight rows
and bias) and every per-channel op between them (BatchNorm statistics and affine) leaves the network's function
unchanged; only the summation order inside the consumer changes (float rounding).

The search here is the greedy *channel swap* of that paper's baseline: repeatedly try every swap of one channel
between two groups of 4 and take the best improving one, until no swap improves or a time budget runs out.
The producer / consumer pairs come from the ``torch.export`` graph; only chains made of channel-wise ops qualify.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .._deps import require
from .eligibility import GROUP, KEEP

# aten ops that act on each channel independently (a permutation of channels passes through them unchanged)
_CHANNELWISE = {
    "relu", "relu_", "relu6", "gelu", "silu", "silu_", "sigmoid", "tanh", "hardtanh", "hardtanh_", "hardswish",
    "hardsigmoid", "leaky_relu", "elu", "mish", "dropout", "clone", "contiguous", "max_pool1d", "max_pool2d",
    "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "adaptive_avg_pool3d", "batch_norm",
}
_WEIGHTED = {"conv1d", "conv2d", "conv3d", "linear"}


@dataclass
class Chain:
    """A consumer layer, the layer that produces its input, and the BatchNorms between (module names)."""

    consumer: str
    producer: str | None
    batchnorms: list[str] = field(default_factory=list)
    reason: str = ""  # why no permutation is possible (producer is None)


@dataclass
class PermutationInfo:
    """What the search did for one consumer layer."""

    layer: str
    producer: str | None
    retained_before: float
    retained_after: float
    applied: bool
    reason: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _op_name(node) -> str:
    return str(getattr(node.target, "__name__", node.target)).split(".")[0]


def _param_module(ep, node) -> str | None:
    """Module name owning the parameter placeholder ``node`` (``features.3.weight`` -> ``features.3``)."""
    qual = ep.graph_signature.inputs_to_parameters.get(getattr(node, "name", None))
    return qual.rsplit(".", 1)[0] if qual else None


def _flatten_is_channelwise(node) -> bool:
    shape = getattr(node.args[0], "meta", {}).get("val")
    return shape is not None and len(shape.shape) > 2 and all(int(d) == 1 for d in shape.shape[2:])


def find_chains(model, example_input, consumers: list[str]) -> dict[str, Chain]:
    """For each consumer layer name, walk back through channel-wise ops to the producing Conv / Linear."""
    torch = require("torch", purpose="channel permutation")
    was_training = model.training
    model.eval()
    try:
        ep = torch.export.export(model, (example_input,))
    except Exception as exc:  # noqa: BLE001 - any tracing failure means: no permutation, say why
        return {c: Chain(c, None, reason=f"torch.export failed: {type(exc).__name__}") for c in consumers}
    finally:
        model.train(was_training)
    by_module = {}
    for node in ep.graph.nodes:
        if node.op == "call_function" and _op_name(node) in _WEIGHTED:
            by_module[_param_module(ep, node.args[1])] = node
    return {c: _walk_back(ep, by_module.get(c), c) for c in consumers}


def _walk_back(ep, node, consumer: str) -> Chain:
    if node is None:
        return Chain(consumer, None, reason="layer not found in the exported graph")
    batchnorms, cur = [], node.args[0]
    while True:
        if len(cur.users) != 1:
            return Chain(consumer, None, reason="input tensor has several consumers (branch/residual)")
        if cur.op == "placeholder":
            return Chain(consumer, None, reason="input is the model input (no producing layer to permute)")
        op = _op_name(cur) if cur.op == "call_function" else cur.op
        if op in _WEIGHTED:
            groups = cur.args[6] if op.startswith("conv") and len(cur.args) > 6 else 1
            if groups != 1:
                return Chain(consumer, None, reason="producer is a grouped conv")
            return Chain(consumer, _param_module(ep, cur.args[1]), batchnorms)
        if op == "batch_norm":
            batchnorms.append(_param_module(ep, cur.args[1]))
        elif op == "flatten" and _flatten_is_channelwise(cur):
            pass
        elif op not in _CHANNELWISE:
            return Chain(consumer, None, reason=f"input comes through {op!r}, not a channel-wise op")
        cur = cur.args[0]


def channel_magnitudes(weight: np.ndarray) -> np.ndarray:
    """``|W|`` as ``[in_channels, everything else]`` (one row per input channel)."""
    a = np.abs(np.asarray(weight, dtype=np.float64))
    return np.moveaxis(a, 1, 0).reshape(a.shape[1], -1)


def kept_sum(mags: np.ndarray, perm: np.ndarray) -> float:
    """Total magnitude the 2:4 mask keeps when input channels are ordered by ``perm``."""
    vals = np.sort(mags[perm].reshape(-1, GROUP, mags.shape[1]), axis=1)
    return float(vals[:, GROUP - KEEP:, :].sum())


def _group_scores(mags: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Kept magnitude of channel groups ``idx[..., 4]``."""
    vals = np.sort(mags[idx], axis=-2)
    return vals[..., GROUP - KEEP:, :].sum(axis=(-2, -1))


def search_permutation(mags: np.ndarray, budget_s: float = 5.0) -> np.ndarray:
    """Greedy channel-swap search (Pool & Yu 2021, baseline) maximising :func:`kept_sum`; returns the order."""
    c = mags.shape[0]
    perm = np.arange(c)
    groups = perm.reshape(-1, GROUP).copy()
    scores = _group_scores(mags, groups)
    swaps = [(i, j) for i in range(GROUP) for j in range(GROUP)]
    deadline = time.perf_counter() + budget_s
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                cand = np.repeat(np.stack([groups[a], groups[b]])[None], len(swaps), axis=0)
                for s, (i, j) in enumerate(swaps):
                    cand[s, 0, i], cand[s, 1, j] = groups[b, j], groups[a, i]
                gain = _group_scores(mags, cand).sum(axis=1) - (scores[a] + scores[b])
                best = int(np.argmax(gain))
                if gain[best] > 1e-9 * max(scores[a] + scores[b], 1e-30):
                    groups[a], groups[b] = cand[best, 0], cand[best, 1]
                    scores[a], scores[b] = _group_scores(mags, cand[best])
                    improved = True
            if time.perf_counter() > deadline:
                break
    return groups.reshape(-1)


def apply_permutation(model, chain: Chain, perm: np.ndarray) -> None:
    """Reorder the consumer's input channels and the producer's (and BatchNorms') output channels by ``perm``."""
    torch = require("torch", purpose="channel permutation")
    mods = dict(model.named_modules())
    idx = torch.as_tensor(perm, dtype=torch.long)
    with torch.no_grad():
        consumer = mods[chain.consumer]
        consumer.weight.copy_(consumer.weight.index_select(1, idx.to(consumer.weight.device)))
        producer = mods[chain.producer]
        for t in (producer.weight, producer.bias):
            if t is not None:
                t.copy_(t.index_select(0, idx.to(t.device)))
        for bn_name in chain.batchnorms:
            bn = mods[bn_name]
            for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
                if t is not None:
                    t.copy_(t.index_select(0, idx.to(t.device)))


def permute_for_2to4(model, example_input, layers: list[str], budget_s: float = 5.0) -> dict[str, PermutationInfo]:
    """Search and apply a channel permutation for each layer in ``layers`` where the graph allows one."""
    mods = dict(model.named_modules())
    chains = find_chains(model, example_input, layers)
    infos = {}
    for name in layers:
        mags = channel_magnitudes(mods[name].weight.detach().cpu().numpy())
        total = float(mags.sum()) or 1.0
        before = kept_sum(mags, np.arange(mags.shape[0])) / total
        chain = chains[name]
        if chain.producer is None:
            infos[name] = PermutationInfo(name, None, before, before, False, chain.reason)
            continue
        start = time.perf_counter()
        perm = search_permutation(mags, budget_s)
        after = kept_sum(mags, perm) / total
        applied = after > before
        if applied:
            apply_permutation(model, chain, perm)
        infos[name] = PermutationInfo(name, chain.producer, before, after if applied else before, applied,
                                      "" if applied else "no better order found", time.perf_counter() - start)
    return infos
