"""``export``: the trained QAT model as the same Q/DQ ONNX ``jetsonkit quantize`` writes, with the trained scales.

How the structure is guaranteed equal: the FP32 model holding the trained weights is exported with
:func:`jetsonkit.export.export_onnx` (the same options as at prepare time) and quantized with
:func:`jetsonkit.quantize.qdq.quantize_qdq` and the same precision plan — the post-training path itself. Only the
values are then replaced: each activation site's ``<tensor>_scale`` by the trained scale, each weight site's
``<tensor>_scale`` / ``<tensor>_quantized`` by the scales and int8 codes the fake quantizer applied
(``clamp(round_half_even(w / s), -127, 127)``). A BatchNorm frozen during QAT is folded by the exporter; since a
per-channel factor ``a`` commutes with per-channel quantization, the exported scale is ``s * |a|``, recovered as the
ratio of the per-channel maxima of the exported and the trained weight. Sites QAT could not simulate keep their
calibrated scale. 2:4 layers are checked to still hold the pattern in their int8 codes.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._deps import require
from .._io import atomic_path
from ..errors import CheckFailed

__all__ = ["export", "QatExport"]


@dataclass
class QatExport:
    """What :func:`export` wrote."""

    path: Path
    activation_scales: dict[str, float]  # site tensor -> scale in the file
    simulated_sites: list[str]  # sites fake-quantized in torch: their exported scale is the quantizer's
    weight_sites: dict[str, str]  # weight tensor -> module
    sparse_layers: list[str] = field(default_factory=list)
    nodes: int = 0
    size_bytes: int = 0

    def as_dict(self) -> dict:
        return {**self.__dict__, "path": str(self.path)}


def export(model: Any, example_inputs: Any, path: str | os.PathLike, *, check: bool = True) -> QatExport:
    """Write the Q/DQ ONNX of a prepared (and trained) ``model`` to ``path``, atomically."""
    torch = require("torch", purpose="QAT export")
    onnx = require("onnx", purpose="QAT export")
    from .._io import check_output_path
    from ..export import export_onnx
    from ..quantize.placement import quant_sites
    from ..quantize.qdq import quantize_qdq
    from .mapping import map_sites
    from ..export import as_example_tensors
    from .state import float_copy, state_of

    state = state_of(model, "export")
    final = check_output_path(path)
    example = as_example_tensors(torch, example_inputs)
    fp32 = float_copy(model)
    with tempfile.TemporaryDirectory(prefix="jetsonkit-qat-") as tmp:
        onnx_path = Path(tmp) / "fp32.onnx"
        export_onnx(fp32, example, onnx_path, random_trials=1, **state.export_kwargs)
        proto = onnx.load(str(onnx_path))
    float_weights = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    site_map = map_sites(proto, fp32, quant_sites(proto, state.plan))
    mapped = {t: m for t, (m, _) in site_map.weights.items()}
    trained = {t: q for t, q in state.activation_quantizers().items()}
    ranges = dict(state.ranges)
    ranges.update({t: q.amax() for t, q in trained.items()})
    result = quantize_qdq(proto, ranges, None, plan=state.plan, check=False)
    qproto = result.model
    inits = {t.name: t for t in qproto.graph.initializer}
    scales = _set_activation_scales(onnx, inits, trained, result.sites)
    weight_sites = _set_weights(onnx, inits, result.sites, float_weights, model, mapped)
    sparse = _check_sparse(onnx, inits, state, weight_sites)
    if check:
        onnx.checker.check_model(qproto)
    with atomic_path(final) as tmp_path:
        onnx.save(qproto, str(tmp_path))
    return QatExport(final, scales, sorted(trained), weight_sites, sparse, len(qproto.graph.node),
                     final.stat().st_size)


def _replace(onnx: Any, inits: dict, name: str, array: np.ndarray) -> None:
    old = inits[name]
    if tuple(old.dims) != array.shape or old.data_type != onnx.helper.np_dtype_to_tensor_dtype(array.dtype):
        raise CheckFailed(f"QAT export: initializer {name!r} is {tuple(old.dims)} but the trained value is "
                          f"{array.shape} {array.dtype}", hint="the model changed after prepare; prepare it again")
    old.CopyFrom(onnx.numpy_helper.from_array(array, name))


def _set_activation_scales(onnx: Any, inits: dict, trained: dict, sites: list) -> dict[str, float]:
    out = {}
    for site in sites:
        if site.kind != "activation":
            continue
        name = f"{site.tensor}_scale"
        if site.tensor in trained:
            _replace(onnx, inits, name, np.asarray(trained[site.tensor].scale.detach().cpu().numpy(), np.float32))
        out[site.tensor] = float(onnx.numpy_helper.to_array(inits[name]))
    return out


def _trained_weight(model: Any, module_name: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(float weight the optimizer trained, scales the quantizer applies, output-channel axis) of one module."""
    module = model.get_submodule(module_name)
    quantizer = module.parametrizations.weight[0]
    original = module.parametrizations.weight.original.detach()
    return original.cpu().numpy(), quantizer.scales(original).cpu().numpy().astype(np.float32), quantizer.axis


def _channel_amax(w: np.ndarray, axis: int) -> np.ndarray:
    other = tuple(i for i in range(w.ndim) if i != axis)
    return np.abs(w).max(axis=other).astype(np.float64)


def _set_weights(onnx: Any, inits: dict, sites: list, float_weights: dict, model: Any,
                 mapped: dict[str, str]) -> dict[str, str]:
    out = {}
    for site in (s for s in sites if s.kind == "weight"):
        if site.tensor not in mapped or f"{site.tensor}_quantized" not in inits:
            continue  # not simulated (or stored as fp32 + Q/DQ): quantize_qdq's max-based values stay
        module_name = mapped[site.tensor]
        w_torch, s_torch, t_axis = _trained_weight(model, module_name)
        w_onnx = float_weights[site.tensor].astype(np.float32)
        axis = site.axis if site.axis is not None else 0
        ratio = _channel_amax(w_onnx, axis) / np.maximum(_channel_amax(w_torch, t_axis), 1e-30)
        same = np.allclose(ratio, 1.0, rtol=1e-6)
        scale = s_torch if same else (s_torch.astype(np.float64) * ratio).astype(np.float32)
        scale = np.where(_channel_amax(w_onnx, axis) > 0, scale, np.float32(1)).astype(np.float32)
        shape = [1] * w_onnx.ndim
        shape[axis] = -1
        codes = np.clip(np.rint(w_onnx / scale.reshape(shape)), -127, 127).astype(np.int8)
        _replace(onnx, inits, f"{site.tensor}_scale", scale)
        _replace(onnx, inits, f"{site.tensor}_quantized", codes)
        out[site.tensor] = module_name
    return out


def _check_sparse(onnx: Any, inits: dict, state: Any, weight_sites: dict[str, str]) -> list[str]:
    from ..sparsity.masks import holds_2to4

    by_module = {m: t for t, m in weight_sites.items()}
    kept = []
    for module_name in state.masks:
        tensor = by_module.get(module_name)
        if tensor is None:
            continue
        codes = onnx.numpy_helper.to_array(inits[f"{tensor}_quantized"])
        if not holds_2to4(codes.reshape(codes.shape[0], codes.shape[1], -1), axis=1):
            raise CheckFailed(f"QAT export: layer {module_name} ({tensor}) lost its 2:4 pattern",
                              hint="keep the masks while training: jetsonkit.qat.sparsity_masks(model).attach(opt)")
        kept.append(module_name)
    return kept
