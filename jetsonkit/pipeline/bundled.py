"""The bundled recipes (package data), used by ``jetsonkit demo`` (MNIST classifier) and ``jetsonkit demo --task
detect`` (MNIST detector)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["bundled_recipe"]

_RECIPES = {"classify": "mnist_recipe.yaml", "detect": "mnist_det_recipe.yaml"}


def bundled_recipe(task: str = "classify") -> Path:
    """Path of ``jetsonkit/examples/mnist_recipe.yaml`` (``task="detect"``: ``mnist_det_recipe.yaml``) inside the
    installed package."""
    return Path(__file__).resolve().parents[1] / "examples" / _RECIPES[task]
