"""A :class:`~.config.PreprocessSpec` stored with an artifact and read back.

* ONNX: one ``metadata_props`` entry, key :data:`ONNX_KEY`, value the spec's JSON (:func:`set_onnx`,
  :func:`from_onnx`);
* TFLite metadata and the TensorRT engine sidecar are JSON documents: they carry ``{"preprocess": spec.to_dict()}``
  (:func:`to_metadata` / :func:`from_metadata`).

A stored spec that does not parse is a ConfigError naming the artifact and the key, never silently ignored.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

from ..errors import ConfigError
from .config import PreprocessSpec

__all__ = ["ONNX_KEY", "METADATA_KEY", "set_onnx", "from_onnx", "to_metadata", "from_metadata"]

ONNX_KEY = "jetsonkit.preprocess"
METADATA_KEY = "preprocess"


def set_onnx(model: Any, spec: PreprocessSpec) -> Any:
    """Store ``spec`` in an ``onnx.ModelProto``'s metadata_props (replacing an earlier one); returns the model."""
    kept = [p for p in model.metadata_props if p.key != ONNX_KEY]
    del model.metadata_props[:]
    for p in kept:
        model.metadata_props.add(key=p.key, value=p.value)
    model.metadata_props.add(key=ONNX_KEY, value=json.dumps(spec.to_dict(), sort_keys=True))
    return model


def from_onnx(model: Any) -> PreprocessSpec | None:
    """The spec stored in an ONNX model (a ModelProto or a path), or None when it has none."""
    where = "the ONNX model"
    if isinstance(model, (str, os.PathLike)):
        from .._deps import require

        onnx = require("onnx", purpose="reading ONNX metadata")
        where = os.fspath(model)
        model = onnx.load(where, load_external_data=False)
    for p in model.metadata_props:
        if p.key == ONNX_KEY:
            try:
                data = json.loads(p.value)
            except ValueError as exc:
                raise ConfigError(f"{where}: metadata {ONNX_KEY!r} is not JSON ({exc})",
                                  hint="re-export the model, or store it with jetsonkit.preprocess.metadata.set_onnx") \
                    from exc
            return PreprocessSpec.from_dict(data, where=f"{where}: metadata {ONNX_KEY!r}")
    return None


def to_metadata(spec: PreprocessSpec) -> dict:
    """The entry a JSON metadata document (TFLite metadata, engine sidecar) carries: ``{"preprocess": {...}}``."""
    return {METADATA_KEY: spec.to_dict()}


def from_metadata(meta: Mapping[str, Any], where: str = "metadata") -> PreprocessSpec | None:
    """The spec in a JSON metadata document, or None when it has none."""
    raw = meta.get(METADATA_KEY) if isinstance(meta, Mapping) else None
    return None if raw is None else PreprocessSpec.from_dict(raw, where=f"{where}: {METADATA_KEY!r}")
