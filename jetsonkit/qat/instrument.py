"""``prepare``: put INT8 fake quantization on exactly the tensors the Q/DQ stage quantizes.

Steps: fold or freeze BatchNorm (:mod:`.batchnorm`); export the model once with :func:`jetsonkit.export.export_onnx`
(the graph ``jetsonkit calibrate`` / ``quantize`` see); take the sites from
:func:`jetsonkit.quantize.placement.quant_sites` with the precision plan; map them to modules (:mod:`.mapping`);
then a forward pre-hook per consumer module quantizes its input (per-tensor, scale = table amax / 127) and a
``torch.nn.utils.parametrize`` parametrization quantizes each weight (per output channel). The model object stays
the user's own: their training loop, optimizer and ``model(x)`` calls work unchanged.
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from calibrators.methods import DEFAULT_METHOD

from .._deps import require
from ..export import as_example_tensors
from .._progress import info, warn
from ..errors import IncompatibleArtifactError, InputError, UsageError
from .batchnorm import BATCHNORM_MODES, fold_batchnorm, freeze_batchnorm

__all__ = ["prepare"]


def _plan(plan: Any) -> Any:
    if isinstance(plan, (str, os.PathLike)):
        from ..quantize.plan import PrecisionPlan

        return PrecisionPlan.load(plan)
    return plan


def _example_from(calib: Any) -> Any:
    if isinstance(calib, np.ndarray) and calib.ndim >= 2:
        return calib[:1].astype(np.float32)
    if isinstance(calib, str) and not calib.endswith(".json"):
        from ..data import load_xy

        return np.asarray(load_xy(calib, max_samples=1)[0][:1], dtype=np.float32)
    raise UsageError("prepare needs example_inputs (one batch shaped like the model's input)",
                     hint="jetsonkit.qat.prepare(model, table, torch.zeros(1, 3, 224, 224))")


def _is_table(calib: Any) -> bool:
    if isinstance(calib, (str, os.PathLike)):
        return str(calib).endswith(".json")
    return hasattr(calib, "tensors") or isinstance(calib, dict) and not any(
        isinstance(v, np.ndarray) for v in calib.values())


def _ranges(calib: Any, onnx_path: Path, method: str) -> tuple[dict[str, float], str]:
    from ..artifacts import table_ranges

    if _is_table(calib):
        ranges = table_ranges(calib)
        return ranges, repr(str(calib)) if isinstance(calib, (str, os.PathLike)) else "(in memory)"
    from ..calibrate import calibrate

    table = calibrate(onnx_path, calib, method)
    return table.amaxes(), f"calibrated here ({method})"


def _check_coverage(sites: list, ranges: dict[str, float], source: str, proto: Any) -> None:
    missing = [s.tensor for s in sites if s.kind == "activation" and s.tensor not in ranges]
    known = {o for n in proto.graph.node for o in n.output} | {i.name for i in proto.graph.input}
    foreign = [t for t in ranges if t not in known]
    if foreign and not missing:
        warn(f"calibration table {source} also has ranges for {len(foreign)} tensor(s) this model does not have "
             f"({', '.join(foreign[:3])}); check it was made for this model")
    if missing:
        shown = ", ".join(missing[:5]) + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else "")
        raise IncompatibleArtifactError(
            f"calibration table {source} has no range for {len(missing)} of this model's Q/DQ tensors: {shown} "
            f"(its tensors: {', '.join(list(ranges)[:5])}…)",
            hint="it was made for another model or with other input names; recalibrate this model's ONNX export "
                 "(or pass calibration data instead of a table)")
    bad = [t for t in (s.tensor for s in sites if s.kind == "activation") if not ranges[t] > 0]
    if bad:
        raise IncompatibleArtifactError(f"calibration table {source}: range of {bad[0]!r} is {ranges[bad[0]]!r}",
                                        hint="amax must be positive; recalibrate")


def _batchnorm(model: Any, mode: str, example: tuple) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    if mode not in BATCHNORM_MODES:
        raise UsageError(f"batchnorm={mode!r} is not a BatchNorm mode", hint="use 'fold' or 'freeze'")
    pairs = fold_batchnorm(model, example) if mode == "fold" else []
    done = {"folded": [bn for _, bn in pairs]}
    done["frozen"] = freeze_batchnorm(model)  # what could not be folded (or everything, in freeze mode)
    return done, pairs


def prepare(model: Any, calib: Any, example_inputs: Any = None, plan: Any = None, *, learn_scales: bool = False,
            batchnorm: str = "fold", input_names: Any = ("input",), output_names: Any = None,
            dynamic: Any = True, opset: int = 17, method: str = DEFAULT_METHOD) -> Any:
    """Prepare ``model`` (in place) for QAT and return it; see the module docstring.

    ``calib``: a ``calibrators.CalibrationTable``, a table file (``calib.json``) or a mapping tensor -> amax; or
    calibration data (array, ``"mnist:train:1000"``, anything :func:`jetsonkit.calibrate.calibrate` reads), then
    ranges are computed here with ``method``. The table must be for this model exported with the same
    ``input_names``. ``plan``: a PrecisionPlan or plan file; layers it keeps out of INT8 get no fake quantization.
    ``learn_scales``: train log2 of every scale (LSQ gradient, TQT parametrisation; :mod:`.fakequant`).
    ``batchnorm``: ``"fold"`` or ``"freeze"`` (:mod:`.batchnorm`).
    """
    torch = require("torch", purpose="quantization-aware training")
    onnx = require("onnx", purpose="quantization-aware training")
    from ..export import export_onnx
    from ..quantize.placement import quant_sites
    from .state import ATTR, QatState, QatSummary

    if not isinstance(model, torch.nn.Module) or isinstance(model, torch.jit.ScriptModule):
        raise InputError(f"QAT needs a torch.nn.Module, got {type(model).__name__}",
                         hint="load the model from its Python class (package.module:factory)")
    if ATTR in model.__dict__:
        raise InputError("model is already prepared for QAT", hint="prepare the FP32 model once")
    example = as_example_tensors(torch, example_inputs if example_inputs is not None else _example_from(calib))
    plan = _plan(plan)
    original = copy.deepcopy(model).eval()
    probe = copy.deepcopy(original)  # everything that can fail runs on a copy: the user's model stays as it was
    bn, pairs = _batchnorm(probe, batchnorm, example)
    export_kwargs = {"input_names": list(input_names) if input_names else None,
                     "output_names": list(output_names) if output_names else None, "dynamic": dynamic,
                     "opset": opset}
    with tempfile.TemporaryDirectory(prefix="jetsonkit-qat-") as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        export_onnx(probe, example, onnx_path, parity=False, **export_kwargs)
        proto = onnx.load(str(onnx_path))
        ranges, source = _ranges(calib, onnx_path, method)
    sites = quant_sites(proto, plan)
    _check_coverage(sites, ranges, source, proto)
    summary = QatSummary(learn_scales=learn_scales, table_source=source, batchnorm=bn)
    if plan is not None:
        from ..quantize.qdq import _kept_float

        summary.kept_float = _kept_float(proto, plan)
    _batchnorm(model, batchnorm, example)  # the same fold / freeze, now on the user's model
    state = QatState(original, ranges, plan, export_kwargs, summary, {}, pairs)
    _install(model, state, proto, sites, learn_scales, example)
    model.__dict__[ATTR] = state  # a plain attribute, outside the module tree
    _report(summary)
    return model


def _calls(model: Any, names: list[str], example: tuple) -> dict[str, int]:
    """How many times each module in ``names`` runs in one forward on ``example``."""
    torch = require("torch")
    counts = dict.fromkeys(names, 0)
    handles = [model.get_submodule(n).register_forward_hook(
        lambda m, a, o, n=n: counts.__setitem__(n, counts[n] + 1)) for n in names]
    try:
        with torch.no_grad():
            model(*example)
    finally:
        for h in handles:
            h.remove()
    return counts


def _install(model: Any, state: Any, proto: Any, sites: list, learn: bool, example: tuple) -> None:
    from torch.nn.utils import parametrize

    from ..sparsity.masks import holds_2to4, zero_fraction
    from .fakequant import WeightQuantizer
    from .mapping import map_sites

    summary = state.summary
    site_map = map_sites(proto, model, sites)
    modules = dict(model.named_modules())
    quantizers = {}
    for module_name, n in _calls(model, list(site_map.outputs), example).items():
        tensor = site_map.outputs[module_name]
        if n != 1:  # a module run twice would quantize its other call too: not exact, leave it unsimulated
            continue
        quantizers[tensor] = state.add_activation(tensor, state.ranges[tensor], learn, modules[module_name],
                                                  child="jetsonkit_output_quantizer")
        modules[module_name].register_forward_hook(_QuantizeOutput(quantizers[tensor]))
        del site_map.unmapped[tensor]  # every consumer now reads the quantized output
    at_output = set(quantizers)
    for module_name, tensor in site_map.inputs.items():
        if tensor in at_output:
            continue  # the producer's hook already quantizes what this module receives
        if tensor not in quantizers:
            quantizers[tensor] = state.add_activation(tensor, state.ranges[tensor], learn, modules[module_name])
        modules[module_name].register_forward_pre_hook(_QuantizeInput(quantizers[tensor]))
    summary.activation_sites = list(quantizers)
    for tensor, (module_name, axis) in site_map.weights.items():
        module = modules[module_name]
        w = module.weight.detach().cpu().numpy()
        if w.ndim >= 2 and w.shape[1] % 4 == 0 and zero_fraction(w) >= 0.5 and holds_2to4(w, axis=1):
            state.masks[module_name] = module.weight.detach() != 0
            summary.sparse_layers.append(module_name)
        parametrize.register_parametrization(module, "weight", WeightQuantizer(module.weight, axis, learn))
        summary.weight_sites[tensor] = module_name
    summary.not_simulated = dict(site_map.unmapped)
    summary.unknown_layers = _unknown_layers(model, set(site_map.weights.values()), site_map, summary)


def _unknown_layers(model: Any, weighted: set, site_map: Any, summary: Any) -> dict[str, str]:
    """Leaf modules with a >= 2-D parameter that no Q/DQ site covers and the plan does not keep in float."""
    quantized = {m for m, _ in weighted}
    planned = {site_map.node_modules[n] for n in summary.kept_float if n in site_map.node_modules}
    out = {}
    for name, module in model.named_modules():
        if list(module.children()) or name in quantized or name in planned:
            continue
        if any(p.dim() >= 2 for p in module.parameters(recurse=False)):
            out[name] = type(module).__name__
    return out


class _QuantizeInput:
    """Forward pre-hook: fake-quantize the module's first input (the ONNX node's data input)."""

    def __init__(self, quantizer: Any):
        self.quantizer = quantizer

    def __call__(self, module: Any, args: tuple) -> tuple:
        return (self.quantizer(args[0]), *args[1:])


class _QuantizeOutput:
    """Forward hook: fake-quantize the module's output (a site whose consumers are plain Python)."""

    def __init__(self, quantizer: Any):
        self.quantizer = quantizer

    def __call__(self, module: Any, args: tuple, output: Any) -> Any:
        return self.quantizer(output)


def _report(summary: Any) -> None:
    info(summary.text())
    if summary.unknown_layers:
        warn("layers with no Q/DQ placement rule are left in float: "
             + ", ".join(f"{n} ({t})" for n, t in summary.unknown_layers.items()))
    if summary.not_simulated:
        warn(f"{len(summary.not_simulated)} Q/DQ site(s) feed functional ops QAT cannot hook "
             f"({', '.join(list(summary.not_simulated)[:4])}); they train in float and export with their "
             "calibrated scale")
