"""Accuracy noise (Wilson interval), the noise-aware Pareto front, label placement and the plots' text."""

from __future__ import annotations

import re

import pytest

from jetsonkit.pipeline.pareto import half_width, pareto_front, wilson_interval


def test_wilson_interval_textbook_values():
    # 50 / 100: 0.4038 .. 0.5962 (Wilson 1927; e.g. Newcombe, Stat. Med. 17, 1998, table I method 3)
    low, high = wilson_interval(0.5, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    # 0 / 10: 0 .. 0.2775 (never below 0, unlike the normal approximation)
    assert wilson_interval(0.0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    # 99.05 % of 10,000 images: about +-0.19 points, so +0.02 points is noise
    assert 100 * half_width(0.9905, 10_000) == pytest.approx(0.19, abs=0.01)


def test_front_ignores_differences_inside_the_interval():
    # the demo's case: INT8 QAT +0.03 points on 10,000 images, but 2.7x slower than the FP32 model
    pts = [(0.064, 0.9905), (0.170, 0.9908), (0.037, 0.9905)]
    margins = [half_width(a, 10_000) for _, a in pts]
    assert pareto_front(pts) == [1, 2]  # exact comparison: +0.03 points buys a place on the front
    assert pareto_front(pts, margins) == [2]  # within the noise: only the fastest stays
    # a real gain (2 points, far outside +-0.2) does stay on the front
    assert pareto_front([(1.0, 0.95), (2.0, 0.97)], [half_width(0.95, 10_000), half_width(0.97, 10_000)]) == [0, 1]


def test_front_compares_with_the_front_not_with_dropped_points():
    # b ties a (dropped), c beats a by more than the margin: c is on the front though it ties b
    pts, margins = [(1.0, 0.50), (2.0, 0.60), (3.0, 0.70)], [0.15] * 3
    assert pareto_front(pts, margins) == [0, 2]


def test_labels_of_coincident_points_do_not_overlap():
    pytest.importorskip("matplotlib")
    from jetsonkit.pipeline.labels import place_labels
    from jetsonkit.pipeline.plots import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    xs, ys = [1.0, 1.0, 1.01, 1.02, 3.0, 3.0], [0.0, 0.0, 0.01, 0.0, 0.5, 0.5]
    ax.scatter(xs, ys)
    ax.set_xlim(0, 4)
    ax.set_ylim(-1, 1)
    names = ["cpu", "pi5-fp32", "pi5-fp16", "cpu-int8", "cpu-int8-qat", "cpu-int8-2to4"]
    anns = place_labels(ax, xs, ys, names, marker_px=6, gid_prefix="t")
    from matplotlib.text import Text

    fig.canvas.draw()
    boxes = [Text.get_window_extent(a) for a in anns]  # the text alone (an annotation's box includes its leader)
    assert sorted(a.get_text() for a in anns) == sorted(names) and {a.get_gid() for a in anns} == {
        f"t-label-{i}" for i in range(6)}
    for i, a in enumerate(boxes):
        assert all(not a.overlaps(b) for b in boxes[i + 1:]), [a.get_text() for a in anns]
    centres = ax.transData.transform(list(zip(xs, ys)))
    for box in boxes:
        assert not any(box.x0 < cx + 6 and cx - 6 < box.x1 and box.y0 < cy + 6 and cy - 6 < box.y1
                       for cx, cy in centres)
    plt.close(fig)


def test_sensitivity_ticks_and_legend():
    pytest.importorskip("matplotlib")
    from jetsonkit.pipeline.plots import sensitivity_svg

    scores = [{"layer": "fc", "op": "Gemm", "sensitivity": 0.0020481, "decision": "int8"},
              {"layer": "conv", "op": "Conv", "sensitivity": 0.00032289, "decision": "int8"}]
    svg = sensitivity_svg("m", scores, "s0")
    ticks = re.findall(r">(\d+\.\d+)</text>", svg)
    assert ticks and all(len(t.split(".")[1]) <= 2 for t in ticks), ticks  # 0.5, 1.0 ... not 0.00050
    assert "×10⁻³" in svg and ">INT8<" in svg and "kept out of INT8" not in svg  # no entry for absent bars
    kept = sensitivity_svg("m", [*scores[:1], {**scores[1], "decision": "fp16"}], "s1")
    assert "kept out of INT8 (fp16)" in kept
