"""The bundled MNIST recipe (package data), used by ``jetsonkit demo``."""

from __future__ import annotations

from pathlib import Path

__all__ = ["bundled_recipe"]


def bundled_recipe() -> Path:
    """Path of ``jetsonkit/examples/mnist_recipe.yaml`` inside the installed package."""
    return Path(__file__).resolve().parents[1] / "examples" / "mnist_recipe.yaml"
