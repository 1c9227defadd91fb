"""The memory budget of calibration: the batch and the tensors per ONNX Runtime run follow the arithmetic of
jetsonkit._memory, and a budget never changes what is measured (samples, max |x|, counts), only how many
samples and tensors go into one run."""

from __future__ import annotations

import numpy as np
import pytest

from jetsonkit._memory import COPIES, parse_size, split_memory
from jetsonkit.errors import UsageError

MIB = 1 << 20


def test_the_batch_is_the_largest_that_fits():
    tensors = {"a": 10 * MIB, "b": 6 * MIB}  # 16 MiB a sample
    split = split_memory(tensors, input_bytes=MIB, requested_batch=32, budget=400 * MIB)
    assert split.batch == (400 * MIB) // (COPIES * 16 * MIB + MIB) == 8 and split.groups == (("a", "b"),)
    assert split.limited
    small = split_memory(tensors, MIB, 4, 400 * MIB)
    assert small.batch == 4 and not small.limited  # never above the requested batch


def test_one_sample_too_big_splits_the_tensors_into_runs():
    tensors = {"a": 40 * MIB, "b": 30 * MIB, "c": 30 * MIB, "d": 10 * MIB}
    split = split_memory(tensors, input_bytes=0, requested_batch=32, budget=200 * MIB)
    # 200 MiB / 3 copies = 66 MiB of exposed tensors per run
    assert split.batch == 1 and split.groups == (("a",), ("b", "c"), ("d",))


@pytest.mark.parametrize("text, value", [("768M", 768 * MIB), ("1G", 1 << 30), ("1.5GiB", 3 << 29),
                                         ("2048m", 2 << 30), (1 << 30, 1 << 30)])
def test_sizes(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "12X", "-1G", "0", "10M", "1e3G", "nan", True])
def test_bad_sizes(text):
    with pytest.raises(UsageError):
        parse_size(text)


def test_a_budget_changes_runs_not_ranges(capsys, mnist_onnx, mnist_train_1k):
    from jetsonkit.calibrate import collect
    from jetsonkit.cli.streams import configure_logging

    configure_logging(False)  # an earlier --json / --quiet run in this process may have left it quiet
    x = mnist_train_1k[0][:96]
    free, _ = collect(mnist_onnx, x, batch_size=32, max_memory=None)
    capsys.readouterr()
    # a budget below one sample's activations: one sample per run, one tensor per run
    tight, _ = collect(mnist_onnx, x, batch_size=32, max_memory=1)
    assert f"batch 1, {len(free.histograms)} runs per batch" in capsys.readouterr().err
    assert set(free.histograms) == set(tight.histograms)
    for name, h in free.histograms.items():
        t = tight.histograms[name]
        assert h.samples == t.samples == 96
        assert h.stats()["absmax"] == t.stats()["absmax"]
        np.testing.assert_allclose(t.counts.sum(), h.counts.sum())


def test_the_cli_reports_the_plan(capsys, tmp_path, mnist_onnx):
    from jetsonkit.cli import main

    import re

    assert main(["calibrate", str(mnist_onnx), "--data", "mnist:train:300", "-o", str(tmp_path / "c.json"),
                 "--max-memory", "16M", "--batch-size", "300"]) == 0
    said = re.search(r"memory budget 16 MiB: batch (\d+) \(([\d.]+) MiB of activations a sample\)",
                     capsys.readouterr().err)
    assert said and 16 // (COPIES * float(said.group(2))) * 0.9 <= int(said.group(1)) < 300
    assert main(["calibrate", str(mnist_onnx), "--data", "mnist:train:64", "-o", str(tmp_path / "c.json"),
                 "--max-memory", "1G"]) == 0
    assert "memory budget" not in capsys.readouterr().err  # said only when it limits the run
    assert main(["calibrate", str(mnist_onnx), "--data", "mnist:train:64", "--max-memory", "12X"]) == 2
    assert "--max-memory '12X' is not a size" in capsys.readouterr().err
