"""report.html in a real headless Chromium: no raw Markdown, no label over another label or a marker, every image
loaded, plots at full width, text left / numbers right. The checker must also fail pages that have those faults."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("report_browser", REPO / "scripts" / "report_browser.py")
browser = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(browser)

pytestmark = pytest.mark.skipif(browser.find_chromium() is None,
                                reason="chromium is not installed (Debian: apt-get install chromium; "
                                       "scripts/setup.sh --dev installs it when run as root)")


def _page(tmp_path: Path, body: str) -> Path:
    page = tmp_path / "page.html"
    page.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'><style>body{margin:0;padding:0 10px}"
                    "td.num{text-align:right}</style></head><body>" + body + "</body></html>")
    return page


_FIGURE = ('<figure class="plot" id="plot-p" style="margin:0"><svg viewBox="0 0 600 200" style="width:100%">'
           "{}</svg></figure>")


@pytest.fixture(scope="module")
def measured(compressed):
    html = compressed.out_dir / "report.html"
    return html, browser.measure(html)


def test_compress_report_has_no_problems(measured, compressed):
    _, m = measured
    assert browser.problems(m) == []
    points = sum(r["status"] == "measured" for r in compressed.rows)
    # not vacuous: both trade-off plots drawn, one label and one marker per measured artifact in each
    assert len(m["plots"]) == 2 and len(m["labels"]) == len(m["markers"]) == 2 * points
    assert all(lab["x1"] - lab["x0"] > 10 for lab in m["labels"])
    assert {c["align"] for c in m["cells"]} == {"left", "right"}
    assert "cpu-int8" in m["text"] and "load 1 min" in m["text"]


def test_a_label_moved_onto_another_fails(measured, tmp_path):
    """The same real page with one label's text drawn where its neighbour's is (same anchor and position)."""
    html, _ = measured
    text = html.read_text()
    tags = list(re.finditer(r'<g id="accuracy_vs_latency--latency-label-\d">\s*(<text[^>]*>)', text))
    assert len(tags) >= 2
    first, second = tags[0], tags[1]
    page = tmp_path / "report.html"
    page.write_text(text[:second.start(1)] + first.group(1) + text[second.end(1):])
    found = browser.problems(browser.measure(page))
    assert any(p.startswith("labels overlap in plot-accuracy_vs_latency") for p in found), found


def test_overlapping_labels_and_label_on_marker_fail(tmp_path):
    svg = ('<g id="p-label-0"><text x="20" y="50" font-size="12">cpu-int8</text></g>'
           '<g id="p-label-1"><text x="30" y="54" font-size="12">cpu-int8-qat</text></g>'
           '<g id="p-label-2"><text x="300" y="104" font-size="12">pi5-fp32</text></g>'
           '<g id="p-marker-0"><circle cx="310" cy="100" r="5"/></g>')
    found = browser.problems(browser.measure(_page(tmp_path, _FIGURE.format(svg))))
    assert "labels overlap in plot-p: p-label-0 and p-label-1" in found
    assert "label over a marker in plot-p: p-label-2 covers p-marker-0" in found


def test_markdown_broken_image_narrow_plot_and_alignment_fail(tmp_path):
    body = ("<p>metric **top1** on `mnist:test`, see [the docs](docs/pipeline.md)</p>"
            '<img alt="plot" src="plots/missing.png">'
            '<figure class="plot" id="plot-small" style="width:40%"><svg viewBox="0 0 10 10"></svg></figure>'
            '<table><tr><td class="num">cpu</td><td>0.064</td></tr></table>')
    found = browser.problems(browser.measure(_page(tmp_path, body)))
    joined = "\n".join(found)
    assert "raw Markdown (bold **...**)" in joined and "raw Markdown (backticks `...`)" in joined
    assert "raw Markdown (link [..](..))" in joined
    assert "image did not load: file://" in joined
    assert "plot plot-small is" in joined
    assert "text cell 'cpu' is aligned right" in joined and "number cell '0.064' is aligned left" in joined


def test_clean_page_passes(tmp_path):
    body = ("<p>metric <strong>top1</strong> on <code>mnist:test</code></p>"
            + _FIGURE.format('<g id="p-label-0"><text x="20" y="50">cpu</text></g>'
                             '<g id="p-marker-0"><circle cx="12" cy="46" r="3"/></g>')
            + '<table><tr><td>cpu</td><td class="num">0.064</td></tr></table>')
    assert browser.problems(browser.measure(_page(tmp_path, body))) == []
