"""The model zoo: every family builds, loads its shipped MNIST weights and classifies real digits."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from jetsonkit.examples import zoo  # noqa: E402


@pytest.fixture(scope="module")
def digits(mnist_test):
    x, y = mnist_test
    return torch.from_numpy(x[:1000]), y[:1000]


@pytest.mark.parametrize("name", zoo.NAMES)
def test_trained_zoo_model_classifies_mnist(name, digits):
    # the shipped models scored 96.4 (vit) to 98.5 % on the 10k test split when trained (scripts/train_zoo.py);
    # the first 1,000 images are scored here, with 3.5 points of margin for that subset's spread
    x, y = digits
    with torch.no_grad():
        out = zoo.build(name)(x).numpy()
    assert np.isfinite(out).all()
    assert (zoo.class_scores(name, out).argmax(1) == y).mean() >= 0.93


def test_yolo_output_is_decoded_boxes_and_scores(digits):
    x, _ = digits
    with torch.no_grad():
        out = zoo.build("yolo")(x[:16]).numpy()
    assert out.shape == (16, 4 + 10, 4 * 4 + 2 * 2)  # 32x32 padded input, strides 8 and 16
    scores = out[:, 4:]
    assert scores.min() >= 0 and scores.max() <= 1  # sigmoid scores
    cx, cy, w, h = out[:, 0], out[:, 1], out[:, 2], out[:, 3]
    assert (w > 0).all() and (h > 0).all() and (cx > 0).all() and (cy < 32).all()  # pixels of the 32x32 image


@pytest.mark.parametrize("name", ["yolo", "vit"])
def test_full_size_variants_build(name):
    model = zoo.build_full(name)
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 224, 224))
    assert out.shape == ((1, 1004, 28 * 28 + 14 * 14) if name == "yolo" else (1, 1000))


def test_unknown_name_lists_the_zoo():
    with pytest.raises(KeyError, match="resnet, mobilenetv3"):
        zoo.build("alexnet")
