"""BatchNorm for QAT: folded into the preceding Conv / Linear, or frozen (running statistics, eval behaviour).

Folding (Jacob et al. 2018, section 3.2; Krishnamoorthi 2018, "Quantizing deep convolutional networks for efficient
inference: A whitepaper", section 3.2): with ``a = gamma / sqrt(var + eps)`` per output channel,
``W' = W * a`` and ``b' = (b - mean) * a + beta``. The ONNX exporter does the same fold in eval mode, so either way
the deployed graph has no BatchNormalization; the choice is what QAT trains:

- ``"fold"``: the folded weight itself is fake-quantized and trained, exactly what the engine will run;
- ``"freeze"``: the BatchNorm stays a module that always normalises with its running statistics (even in
  ``model.train()``), its affine parameters still train. Per-channel weight quantization commutes with the
  per-channel factor ``a`` (``round(W a / (s |a|)) = sign(a) round(W / s)``), so the exported codes are the ones
  trained; the exported scale is ``s * |a|``.

Pairs are found by running the model once: a BatchNorm folds into the Conv / Linear whose output object it receives.
The fold is checked numerically against the unfolded model on the example input.
"""

from __future__ import annotations

from typing import Any

from .._deps import require
from ..errors import CheckFailed, InputError
from .mapping import weighted_kind

__all__ = ["BATCHNORM_MODES", "conv_bn_pairs", "fold_batchnorm", "freeze_batchnorm", "batchnorm_modules"]

BATCHNORM_MODES = ("fold", "freeze")


def batchnorm_modules(model: Any) -> dict[str, Any]:
    nn = require("torch").nn
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}


def conv_bn_pairs(model: Any, example_inputs: tuple) -> list[tuple[str, str]]:
    """(weighted module, BatchNorm module) pairs where the BatchNorm's input is that module's output object."""
    torch = require("torch")
    bns = batchnorm_modules(model)
    outputs: dict[int, str] = {}
    pairs: list[tuple[str, str]] = []
    handles = []
    for name, module in model.named_modules():
        if weighted_kind(module) is not None:
            handles.append(module.register_forward_hook(
                lambda m, args, out, n=name: outputs.__setitem__(id(out), n)))
        elif name in bns:
            handles.append(module.register_forward_pre_hook(
                lambda m, args, n=name: pairs.append((outputs[id(args[0])], n)) if id(args[0]) in outputs else None))
    try:
        with torch.no_grad():
            model(*example_inputs)
    finally:
        for h in handles:
            h.remove()
    return list(dict.fromkeys(pairs))


def _set_module(model: Any, path: str, new: Any) -> None:
    parent_path, _, child = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, child, new)


def fold_batchnorm(model: Any, example_inputs: tuple) -> list[tuple[str, str]]:
    """Fold every foldable BatchNorm into its Conv / Linear in place (BatchNorm -> Identity); (conv, bn) pairs.

    Raises CheckFailed (nothing changed) when the folded model's output differs from the original's.
    """
    torch = require("torch")
    model.eval()
    pairs = conv_bn_pairs(model, example_inputs)
    if not pairs:
        return []
    with torch.no_grad():
        before = model(*example_inputs)
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    modules = dict(model.named_modules())
    with torch.no_grad():
        for conv_name, bn_name in pairs:
            _fold_one(torch, modules[conv_name], modules[bn_name])
    for _, bn_name in pairs:
        _set_module(model, bn_name, torch.nn.Identity())
    with torch.no_grad():
        after = model(*example_inputs)
    if not torch.allclose(before, after, rtol=1e-3, atol=1e-4):
        for _, bn_name in pairs:
            _set_module(model, bn_name, modules[bn_name])
        with torch.no_grad():
            for k, v in model.state_dict().items():
                v.copy_(saved[k])
        raise CheckFailed(f"folding BatchNorm {', '.join(b for _, b in pairs)} changed the model's output "
                          f"(max {float((before - after).abs().max()):.3g})",
                          hint="a BatchNorm input is also used elsewhere; prepare with batchnorm='freeze'")
    return pairs


def unfold_state(template: Any, trained: dict, pairs: list[tuple[str, str]]) -> dict:
    """A state dict for ``template`` (the model before folding) that computes the folded, trained model.

    Each folded BatchNorm becomes an exact identity (gamma 1, beta 0 or the folded bias when the conv has none,
    mean 0, var 1, eps 0), so the exporter's own Conv+BN fold gives back the trained weight bit for bit and the
    graph is named as the post-training path names it.
    """
    torch = require("torch")
    state = dict(trained)
    modules = dict(template.named_modules())
    for conv_name, bn_name in pairs:
        bn = modules[bn_name]
        bias = state.pop(f"{conv_name}.bias") if modules[conv_name].bias is None else None
        state[f"{bn_name}.running_mean"] = torch.zeros_like(bn.running_mean)
        state[f"{bn_name}.running_var"] = torch.ones_like(bn.running_var)
        state[f"{bn_name}.num_batches_tracked"] = bn.num_batches_tracked.clone()
        if bn.affine:
            state[f"{bn_name}.weight"] = torch.ones_like(bn.weight)
            state[f"{bn_name}.bias"] = bias if bias is not None else torch.zeros_like(bn.bias)
        elif bias is not None:
            raise InputError(f"cannot export {conv_name}: it has no bias and {bn_name} no affine parameters to hold "
                             "the folded one", hint="prepare with batchnorm='freeze'")
        bn.eps = 0.0
    return state


def _fold_one(torch: Any, conv: Any, bn: Any) -> None:
    if not bn.track_running_stats or bn.running_var is None:
        raise InputError(f"BatchNorm {bn!r} keeps no running statistics, so it cannot be folded",
                         hint="prepare with batchnorm='freeze' or train it with track_running_stats=True")
    a = (bn.weight if bn.affine else torch.ones_like(bn.running_var)) / torch.sqrt(bn.running_var + bn.eps)
    beta = bn.bias if bn.affine else torch.zeros_like(bn.running_mean)
    axis = weighted_kind(conv)[1]
    shape = [1] * conv.weight.dim()
    shape[axis] = -1
    conv.weight.mul_(a.reshape(shape))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    new_bias = (bias - bn.running_mean) * a + beta
    if conv.bias is None:
        conv.bias = torch.nn.Parameter(new_bias)
    else:
        conv.bias.copy_(new_bias)


class _AlwaysEval:
    """Forward pre-hook: the BatchNorm normalises with its running statistics even in ``model.train()``."""

    def __call__(self, module: Any, args: tuple) -> None:
        module.train(False)


def freeze_batchnorm(model: Any) -> list[str]:
    """Keep every BatchNorm on its running statistics during training; returns their names."""
    names = []
    for name, module in batchnorm_modules(model).items():
        module.register_forward_pre_hook(_AlwaysEval())
        module.eval()
        names.append(name)
    return names
