"""Session fixtures: the shipped detector exported once to ONNX (dynamic batch) and a small held-back set."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def detector_onnx(tmp_path_factory):
    pytest.importorskip("torch")
    from jetsonkit.examples import detector
    from jetsonkit.export import export_onnx

    path = tmp_path_factory.mktemp("detector") / "detector.onnx"
    export_onnx(detector.build_model(), detector.example_input(), path, input_names=[detector.INPUT_NAME],
                output_names=[detector.OUTPUT_NAME], dynamic=True, parity=False)
    return path


@pytest.fixture(scope="session")
def held_back():
    """200 held-back images (MNIST test digits, seed 0) as evaluation data."""
    from jetsonkit.detect.evaluate import load_detection_data

    return load_detection_data("mnist_det:test:200")
