"""The one Runner contract every backend honours (after Polygraphy's ``backend/base/runner.py``).

Public methods (:meth:`Runtime.infer`, :meth:`Runtime.infer_async`, :meth:`Runtime.close`) check the state and the
inputs; a backend subclass only writes ``_load_impl`` (returns inputs/outputs metadata), ``_infer_impl`` and
``_close_impl`` (and may override ``_infer_async_impl``). :meth:`Runtime.open` picks the backend from the file suffix
or ``backend=``; options a backend does not declare are refused with the list it accepts.
"""

from __future__ import annotations

import abc
import importlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import BackendError, ModelLoadError, UsageError
from ..preprocess.config import Geometry, PreprocessSpec
from .frame import FrameFeed, frame_feed
from .handle import InferHandle
from .tensors import TensorInfo, check_feed

# backend name -> (module, class); suffix -> backend name
BACKENDS: dict[str, tuple[str, str]] = {
    "onnxruntime": ("jetsonkit.runtime.onnxruntime_backend", "OnnxRuntimeRunner"),
    "litert": ("jetsonkit.runtime.litert_backend", "LiteRTRunner"),
    "tensorrt": ("jetsonkit.runtime.tensorrt_backend", "TensorRTRunner"),
}
SUFFIXES: dict[str, str] = {".onnx": "onnxruntime", ".tflite": "litert", ".engine": "tensorrt", ".plan": "tensorrt"}


class RuntimeClosedError(BackendError):
    """A call on a Runtime after :meth:`Runtime.close`."""


def backend_for(path: str | os.PathLike, backend: str | None = None) -> str:
    """The backend name for ``path``: ``backend`` if given (checked), else from the file suffix."""
    if backend is not None:
        if backend not in BACKENDS:
            raise UsageError(f"unknown backend {backend!r}", hint=f"choose one of {', '.join(BACKENDS)}")
        return backend
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(f"cannot tell the backend of {str(path)!r} from its suffix {suffix or '(none)'!r}",
                         hint=f"use a {', '.join(SUFFIXES)} file or pass backend= one of {', '.join(BACKENDS)}")
    return SUFFIXES[suffix]


class Runtime(abc.ABC):
    """A loaded model on one backend. Use :meth:`Runtime.open`; close it (or use ``with``) when done.

    ``inputs`` / ``outputs`` are tuples of :class:`TensorInfo`. ``infer(feed)`` takes one array (single-input
    models) or ``{name: array}`` and returns ``{output name: array}``. Calls from many threads are safe: a backend
    either runs them concurrently (ONNX Runtime, TensorRT context pool) or serialises them (LiteRT).
    """

    backend: ClassVar[str] = ""
    OPTIONS: ClassVar[dict[str, Any]] = {}  # option name -> default; anything else is refused
    SUPPORTS_STREAM: ClassVar[bool] = False  # infer_async(stream=) accepted (TensorRT)

    def __init__(self, path: str | os.PathLike, *, preprocess: Any = None, frame_format: str = "bgr",
                 **options: Any):
        unknown = sorted(set(options) - set(self.OPTIONS))
        if unknown:
            raise UsageError(f"{self.backend} runtime: unknown option(s) {', '.join(unknown)}",
                             hint=f"accepted: {', '.join(sorted(self.OPTIONS)) or 'none'}")
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelLoadError(f"model file {str(self.path)!r} does not exist", hint="check the path")
        self.options = {**self.OPTIONS, **options}
        self._label = f"{self.path.name} ({self.backend})"
        self._closed = False
        self._state_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        inputs, outputs = self._load_impl()
        self._inputs: tuple[TensorInfo, ...] = tuple(inputs)
        self._outputs: tuple[TensorInfo, ...] = tuple(outputs)
        self._frame: FrameFeed | None = None
        if preprocess is not None:
            try:
                self._frame = frame_feed(preprocess, frame_format, self._inputs, self._stored_preprocess, self.label)
            except BaseException:
                self.close()
                raise

    # ---- construction -------------------------------------------------------------------------------------------
    @staticmethod
    def open(path: str | os.PathLike, backend: str | None = None, **options: Any) -> "Runtime":
        """Load ``path`` on ``backend`` (default: from the suffix: .onnx, .tflite, .engine/.plan).

        ``preprocess=``: a :class:`~jetsonkit.preprocess.PreprocessSpec` (or its dict form), ``"auto"`` (the spec
        stored with the artifact: ONNX metadata, TFLite metadata, engine sidecar) or, on TensorRT, a GPU
        :class:`~jetsonkit.preprocess.Preprocess` step; it enables :meth:`infer_frame` / :meth:`infer_frame_async`.
        ``frame_format=``: "bgr" (default: OpenCV, most cameras) or "rgb", the channel order of the frames.
        """
        name = backend_for(path, backend)
        module, cls = BACKENDS[name]
        runner_cls = getattr(importlib.import_module(module), cls)
        return runner_cls(path, **options)

    # ---- metadata -------------------------------------------------------------------------------------------------
    @property
    def inputs(self) -> tuple[TensorInfo, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorInfo, ...]:
        return self._outputs

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def label(self) -> str:
        return self._label

    def describe(self) -> dict[str, Any]:
        """Metadata as plain data (for --json and reports)."""
        return {"path": str(self.path), "backend": self.backend, "inputs": [i.to_dict() for i in self.inputs],
                "outputs": [o.to_dict() for o in self.outputs]}

    # ---- inference ------------------------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeClosedError(f"{self.label} is closed", hint="open it again with Runtime.open(path)")

    def infer(self, feed: Any) -> dict[str, np.ndarray]:
        """Run one inference; ``feed`` is an array (single input) or {name: array}. Returns {output: array}."""
        self._check_open()
        arrays = check_feed(self.label, feed, self.inputs)
        return self._infer_impl(arrays)

    def infer_async(self, feed: Any, stream: Any = None) -> InferHandle:
        """Start one inference and return an :class:`InferHandle` at once (inputs are checked before it starts).

        ``stream``: TensorRT only, a pycuda ``Stream`` to run this request's copies and compute on (ordered after
        the caller's own work on it); CPU backends take None. The arrays are not copied on CPU backends: do not
        modify them until the handle is done.
        """
        self._check_open()
        if stream is not None and not self.SUPPORTS_STREAM:
            raise UsageError(f"{self.label}: stream= is for the TensorRT backend", hint="call infer_async(feed)")
        arrays = check_feed(self.label, feed, self.inputs)
        return self._infer_async_impl(arrays, stream) if stream is not None else self._infer_async_impl(arrays)

    # ---- camera frames ----------------------------------------------------------------------------------------------
    @property
    def preprocess(self) -> PreprocessSpec | None:
        """The pre-processing spec the frame path runs (fitted to the model input), or None."""
        return None if self._frame is None else self._frame.spec

    def _frame_feed(self) -> FrameFeed:
        self._check_open()
        if self._frame is None:
            raise UsageError(f"{self.label}: infer_frame needs a pre-processing spec",
                             hint="open the model with Runtime.open(path, preprocess='auto' or PreprocessSpec(...))")
        return self._frame

    def frame_tensor(self, frame: np.ndarray, fmt: str | None = None) -> tuple[np.ndarray, Geometry]:
        """The input tensor :meth:`infer_frame` feeds for ``frame``, and the frame's :class:`Geometry` in it."""
        return self._frame_feed().tensor(frame, fmt)

    def infer_frame(self, frame: np.ndarray, fmt: str | None = None) -> tuple[dict[str, np.ndarray], Geometry]:
        """One HxWx3 uint8 frame (``frame_format`` order, or ``fmt``) -> (outputs, geometry); map boxes in network
        pixels back to the frame with ``geometry.boxes_to_frame(boxes)``."""
        handle = self.infer_frame_async(frame, fmt)
        return handle.wait(), handle.geometry

    def infer_frame_async(self, frame: np.ndarray, fmt: str | None = None) -> InferHandle:
        """:meth:`infer_frame` started at once: the handle's ``wait()`` gives the outputs, ``handle.geometry`` the
        letterbox transform. The frame is pre-processed before this returns (it may be reused afterwards)."""
        feed = self._frame_feed()
        x, geometry = feed.tensor(frame, fmt)
        handle = self.infer_async({feed.name: x})
        handle.geometry = geometry
        return handle

    def _stored_preprocess(self) -> PreprocessSpec | None:
        """The spec stored with the artifact (backends override), for ``preprocess="auto"``."""
        return None

    def _infer_async_impl(self, arrays: dict[str, np.ndarray]) -> InferHandle:
        with self._state_lock:
            self._check_open()
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"jetsonkit-{self.backend}")
            future = self._executor.submit(self._infer_impl, arrays)
        return InferHandle.from_future(future, label=self.label)

    # ---- lifetime ---------------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Finish queued async requests, then release the backend. Closing twice is harmless."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self._close_impl()

    def __enter__(self) -> "Runtime":
        self._check_open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        ins = ", ".join(str(i) for i in self.inputs)
        return f"<{type(self).__name__} {self.path.name} [{ins}] {state}>"

    # ---- backend hooks ----------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def _load_impl(self) -> tuple[list[TensorInfo], list[TensorInfo]]:
        """Load the model; return the input and output tensor descriptions."""

    @abc.abstractmethod
    def _infer_impl(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one inference on validated inputs; return outputs by name."""

    def _close_impl(self) -> None:
        pass
