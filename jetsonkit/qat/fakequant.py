"""INT8 fake quantization in PyTorch with a straight-through estimator: the arithmetic of :mod:`calibrators.fakequant`.

Forward (identical to ONNX ``QuantizeLinear`` -> ``DequantizeLinear`` with zero point 0, and to
``calibrators.fake_quantize``): ``clamp(round_half_even(x / s), lo, 127) * s`` in float32, with ``lo = -128`` for
activations and ``-127`` for weights (narrow range). ``torch.round`` rounds half to even, like ``np.rint``;
clamping before or after rounding is the same because the bounds are integers.

Backward:

- fixed scales: the straight-through estimator with clipping (Bengio et al. 2013, "Estimating or Propagating
  Gradients Through Stochastic Neurons"; Jacob et al. 2018, "Quantization and Training of Neural Networks for
  Efficient Integer-Arithmetic-Only Inference"): round passes the gradient unchanged, values clamped outside
  [lo, 127] get none;
- learnable scales: the scale stays in the graph, so d/ds = round(v) - v inside the range and lo or 127 outside
  (the step-size gradient of LSQ: Esser et al. 2020, "Learned Step Size Quantization", ICLR, eq. 3). The
  parameter trained is ``log2(s)`` (TQT: Jain et al. 2020, "Trained Quantization Thresholds for Accurate and
  Efficient Fixed-Point Inference of Deep Neural Networks", MLSys, section 3), so Adam's steps are relative
  changes of the scale: an activation range of 2,500 and one of 0.5 move at the same pace, and a scale never
  reaches 0 or below. LSQ's gradient scale ``1/sqrt(numel * 127)`` is not needed under Adam, which normalises
  gradient magnitudes anyway.

Weight scales are per output channel, ``max |w_c| / 127`` (an all-zero channel gets scale 1, as
:func:`jetsonkit.quantize.qdq.weight_scales` gives), recomputed from the current weight at every step unless learned.
"""

from __future__ import annotations

import math

from .._deps import require

__all__ = ["QMAX", "fake_quant", "ActivationQuantizer", "WeightQuantizer"]

QMAX = 127

torch = require("torch", purpose="quantization-aware training")
nn = torch.nn


def _round_ste(v):
    """round-half-to-even forward, identity backward."""
    return (torch.round(v) - v).detach() + v


def fake_quant(x, scale, narrow: bool, axis: int | None = None):
    """``dequantize(quantize(x))`` with scale(s) ``scale`` (per-tensor, or per-channel along ``axis``).

    A scale that requires grad gets the LSQ step-size gradient. Scales must be > 0: callers give an all-zero
    channel scale 1, which quantizes it to 0 as well.
    """
    if axis is not None:
        shape = [1] * x.dim()
        shape[axis] = -1
        scale = scale.reshape(shape)
    lo = -QMAX if narrow else -QMAX - 1
    return _round_ste(torch.clamp(x / scale, lo, QMAX)) * scale


class ActivationQuantizer(nn.Module):
    """Per-tensor fake quantization of one activation (one Q/DQ site), scale from the calibration table.

    ``tensor`` is the ONNX tensor the site quantizes; several modules may share one quantizer when the Q/DQ stage
    feeds one dequantized tensor to several consumers.
    """

    def __init__(self, tensor: str, amax: float, learn_scale: bool = False):
        super().__init__()
        if not (math.isfinite(amax) and amax > 0):
            raise ValueError(f"calibrated amax of {tensor!r} is {amax!r}; it must be a positive finite number")
        self.tensor = tensor
        scale = torch.tensor(amax / QMAX, dtype=torch.float32)
        if learn_scale:
            self.log2_scale = nn.Parameter(torch.log2(scale))
        else:
            self.register_buffer("fixed_scale", scale)
        self.enabled = True

    @property
    def learned(self) -> bool:
        return hasattr(self, "log2_scale")

    @property
    def scale(self):
        """The float32 scale applied now (the value exported as the site's ``_scale``)."""
        return torch.exp2(self.log2_scale) if self.learned else self.fixed_scale

    def amax(self) -> float:
        return float(self.scale.detach()) * QMAX

    def forward(self, x):
        if not self.enabled:
            return x
        return fake_quant(x, self.scale.to(x.dtype), narrow=False)

    def extra_repr(self) -> str:
        return f"tensor={self.tensor!r}, amax={self.amax():.4g}, learned={self.learned}"


class WeightQuantizer(nn.Module):
    """Per-channel (``axis``: output channels) narrow-range fake quantization of a weight, as a parametrization.

    Registered with ``torch.nn.utils.parametrize``, so ``module.weight`` is the fake-quantized weight while the
    float original (``module.parametrizations.weight.original``) is what the optimizer trains.
    """

    def __init__(self, weight, axis: int, learn_scale: bool = False):
        super().__init__()
        self.axis = axis
        self.enabled = True
        if learn_scale:
            self.log2_scale = nn.Parameter(torch.log2(max_scales(weight.detach(), axis)))
        else:
            self.log2_scale = None

    @property
    def learned(self) -> bool:
        return self.log2_scale is not None

    def _scales(self, weight):
        return torch.exp2(self.log2_scale) if self.learned else max_scales(weight.detach(), self.axis)

    def scales(self, weight):
        """The scales this quantizer applies to ``weight`` now (float32, one per output channel)."""
        return self._scales(weight).detach()

    def forward(self, weight):
        if not self.enabled:
            return weight
        return fake_quant(weight, self._scales(weight).to(weight.dtype), narrow=True, axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}, per-channel, narrow [-127, 127], learned={self.learned}"


def max_scales(weight, axis: int):
    """``max |w_c| / 127`` per channel along ``axis`` (1 for an all-zero channel), float32."""
    dims = [d for d in range(weight.dim()) if d != axis]
    amax = weight.abs().amax(dim=dims) if dims else weight.abs()
    amax = amax.to(torch.float32)
    return torch.where(amax > 0, amax / QMAX, torch.ones_like(amax))
