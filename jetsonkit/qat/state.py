"""What :func:`jetsonkit.qat.prepare` leaves on the model: the quantizers, the site map and the FP32 template.

The state is a plain attribute ``model.jetsonkit_qat`` (not a child module: a child would join the forward of an
``nn.Sequential``). Each activation quantizer is a child of its first consumer module, named
``jetsonkit_input_quantizer``, so learnable scales are in ``model.parameters()`` and scales in
``model.state_dict()``; a Conv / Linear never runs its children, so this changes no forward. The FP32 template
(the model as the user gave it) is kept in the state, outside the module tree: neither trained nor saved.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .._deps import require
from ..errors import InputError
from .fakequant import ActivationQuantizer

torch = require("torch", purpose="quantization-aware training")

__all__ = ["ATTR", "QatState", "QatSummary", "state_of", "float_copy"]

ATTR = "jetsonkit_qat"
CHILD = "jetsonkit_input_quantizer"
_ORIGINAL = ".parametrizations.weight.original"


@dataclass
class QatSummary:
    """What prepare did, for reports and the CLI."""

    activation_sites: list[str] = field(default_factory=list)  # simulated in torch
    weight_sites: dict[str, str] = field(default_factory=dict)  # ONNX weight -> module
    not_simulated: dict[str, list[str]] = field(default_factory=dict)  # site -> consumers with no module hook
    unknown_layers: dict[str, str] = field(default_factory=dict)  # module -> type, left in float
    kept_float: dict[str, str] = field(default_factory=dict)  # ONNX node -> precision (the plan)
    batchnorm: dict[str, list[str]] = field(default_factory=dict)  # "folded" / "frozen" -> module names
    sparse_layers: list[str] = field(default_factory=list)  # 2:4 layers whose masks are kept
    learn_scales: bool = False
    table_source: str = ""

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def text(self) -> str:
        lines = [f"QAT: {len(self.activation_sites)} activation + {len(self.weight_sites)} weight sites "
                 f"fake-quantized ({'learned' if self.learn_scales else 'fixed activation'} scales, "
                 f"per-channel weights)"]
        if self.batchnorm.get("folded"):
            lines.append(f"  BatchNorm folded: {', '.join(self.batchnorm['folded'])}")
        if self.batchnorm.get("frozen"):
            lines.append(f"  BatchNorm frozen: {', '.join(self.batchnorm['frozen'])}")
        if self.kept_float:
            lines.append(f"  kept out of INT8 by the plan: {', '.join(sorted(self.kept_float))}")
        if self.sparse_layers:
            lines.append(f"  2:4 masks kept: {', '.join(self.sparse_layers)}")
        if self.unknown_layers:
            lines.append("  left in float (no placement rule): "
                         + ", ".join(f"{n} ({t})" for n, t in self.unknown_layers.items()))
        if self.not_simulated:
            lines.append("  not simulated in torch (functional consumers): " + ", ".join(self.not_simulated))
        return "\n".join(lines)


class QatState:
    """The quantizers of one prepared model plus everything :func:`jetsonkit.qat.export` needs."""

    def __init__(self, template: Any, ranges: dict[str, float], plan: Any, export_kwargs: dict,
                 summary: QatSummary, masks: dict, folded: list):
        self.activations: dict[str, ActivationQuantizer] = {}  # site tensor -> quantizer
        self._template = template
        self.ranges = dict(ranges)  # calibrated amax of every activation site (the table's values)
        self.plan = plan
        self.export_kwargs = dict(export_kwargs)
        self.summary = summary
        self.masks = dict(masks)  # module -> bool mask of its 2:4 weight
        self.folded = list(folded)  # (conv, BatchNorm) pairs folded at prepare

    @property
    def template(self) -> Any:
        """The FP32 model as the user gave it (before BatchNorm folding and fake quantization)."""
        return self._template

    def add_activation(self, tensor: str, amax: float, learn: bool, owner: Any, child: str = CHILD
                       ) -> ActivationQuantizer:
        """A quantizer for site ``tensor``, registered as child ``child`` of ``owner`` (its first consumer, or
        its producer when the site is quantized at a module's output)."""
        quantizer = ActivationQuantizer(tensor, amax, learn)
        owner.add_module(child, quantizer)
        self.activations[tensor] = quantizer
        return quantizer

    def activation_quantizers(self) -> dict[str, ActivationQuantizer]:
        return dict(self.activations)

    def set_enabled(self, enabled: bool, model: Any) -> None:
        """Turn every fake quantizer of ``model`` on or off (off: the model computes in float)."""
        for q in self.activations.values():
            q.enabled = enabled
        for module in model.modules():
            plist = getattr(getattr(module, "parametrizations", None), "weight", None)
            if plist is not None:
                for p in plist:
                    p.enabled = enabled


def state_of(model: Any, action: str = "export") -> QatState:
    """The QAT state of a prepared model; InputError naming the fix when ``model`` was not prepared."""
    state = model.__dict__.get(ATTR) if isinstance(model, torch.nn.Module) else None
    if not isinstance(state, QatState):
        raise InputError(f"cannot {action} a model that was not prepared for QAT ({type(model).__name__} has no "
                         f"'{ATTR}')", hint="call jetsonkit.qat.prepare(model, calib_table, example_inputs) first")
    return state


def float_copy(model: Any) -> Any:
    """The FP32 model (the user's structure, BatchNorms included) computing the prepared model's trained
    function, in eval mode."""
    from .batchnorm import unfold_state

    state = state_of(model)
    fresh = copy.deepcopy(state.template)
    trained = {}
    for key, value in model.state_dict().items():
        if ".jetsonkit_" in f".{key}" or ".parametrizations.weight.0." in key:
            continue
        trained[key.replace(_ORIGINAL, ".weight")] = value
    fresh.load_state_dict(unfold_state(fresh, trained, state.folded), strict=True)
    return fresh.eval()
