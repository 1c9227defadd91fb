"""The op lowerings, one module per family (conv, elementwise, nms, reduce, shape); importing this package registers
each of them in :mod:`..registry` (``REGISTRY``, re-exported here with :func:`markdown_table`).
"""

from __future__ import annotations

from ..registry import REGISTRY, OpSpec, lowers, markdown_table, unsupported
from . import conv, elementwise, nms, reduce, shape  # noqa: F401  (registration)

__all__ = ["REGISTRY", "OpSpec", "lowers", "markdown_table", "unsupported"]
