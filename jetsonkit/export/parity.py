"""Parity: does the ONNX file compute what the PyTorch model computes?

The ONNX file runs in ONNX Runtime (CPU) on the example inputs and on random inputs; each output is compared with
torch's: max absolute error, max relative error (``|d| / max(|ref|, 1e-6)``), and cosine similarity. An output passes
when every element satisfies ``|d| <= atol + rtol * |ref|`` (numpy.allclose's rule, also Polygraphy's default
comparison), so one bad element fails the check even when the averages look fine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["ParityRow", "ParityReport", "compare_outputs"]


@dataclass
class ParityRow:
    """One output on one input set."""

    inputs: str  # "example", "random#1 (batch 3)"
    output: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    cosine: float
    ok: bool


@dataclass
class ParityReport:
    """All rows of one parity run, and the tolerance they were held to."""

    atol: float
    rtol: float
    rows: list[ParityRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows)

    @property
    def max_abs(self) -> float:
        return max((r.max_abs for r in self.rows), default=float("nan"))

    @property
    def min_cosine(self) -> float:
        return min((r.cosine for r in self.rows), default=float("nan"))

    def table(self) -> str:
        """A short fixed-width table, one line per (input set, output)."""
        head = f"parity ONNX Runtime vs torch (pass: |d| <= {self.atol:g} + {self.rtol:g}*|ref|)"
        cols = f"  {'inputs':<22} {'output':<14} {'shape':<14} {'max abs':>10} {'max rel':>10} {'cosine':>10}  ok"
        lines = [head, cols]
        for r in self.rows:
            shape = "x".join(map(str, r.shape)) or "scalar"
            lines.append(
                f"  {r.inputs:<22} {r.output[:14]:<14} {shape[:14]:<14} {r.max_abs:>10.2e} {r.max_rel:>10.2e}"
                f" {r.cosine:>10.7f}  {'yes' if r.ok else 'NO'}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "atol": self.atol, "rtol": self.rtol, "rows": [asdict(r) for r in self.rows]}


def compare_outputs(label: str, names: list[str], reference: list[np.ndarray], candidate: list[np.ndarray],
                    atol: float, rtol: float) -> list[ParityRow]:
    """Rows comparing ``candidate`` (ONNX Runtime) with ``reference`` (torch), output by output."""
    rows = []
    for name, ref, got in zip(names, reference, candidate):
        ref64, got64 = np.asarray(ref, np.float64), np.asarray(got, np.float64)
        if ref64.shape != got64.shape:
            rows.append(ParityRow(label, name, tuple(got64.shape), float("inf"), float("inf"), float("nan"), False))
            continue
        diff = np.abs(ref64 - got64)
        finite = bool(np.all(np.isfinite(got64) == np.isfinite(ref64)))
        max_abs = float(diff.max()) if diff.size else 0.0
        max_rel = float((diff / np.maximum(np.abs(ref64), 1e-6)).max()) if diff.size else 0.0
        ok = finite and bool(np.all(diff <= atol + rtol * np.abs(ref64)))
        rows.append(ParityRow(label, name, tuple(ref64.shape), max_abs, max_rel, _cosine(ref64, got64), ok))
    return rows


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel(), b.ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))
