#!/usr/bin/env python3
"""Look at a report.html the way a person would: in headless Chromium (Debian's chromium package).

    python scripts/report_browser.py check out/report.html        # problems found, one a line; exit 1 if any
    python scripts/report_browser.py shot out/report.html docs/report-demo.png [--width 1280 --height 2200]

``check`` loads a copy of the page with a small probe script appended, lets Chromium lay it out and run it
(``--dump-dom``), and reads back what the browser measured: every scatter label's box (SVG groups whose id
contains ``-label-``) and every marker's box (``-marker-``), every image's load state, the width of every plot,
each table cell's computed alignment, and the visible text. It reports raw Markdown in the visible text (``**x**``,
backticks, ``[text](url)``, ``# heading``, ``|---|`` rows, escaped tags), labels overlapping another label or a
marker of the same plot, images that did not load, plots narrower than 90 % of the page's text column, and number
cells not right-aligned / text cells not left-aligned.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--disable-extensions", "--mute-audio"]

_PROBE = """<script>
window.addEventListener("load", () => {
  const box = (e) => { const r = e.getBoundingClientRect();
    return {id: e.id, plot: (e.closest("figure") || {}).id || "", x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}; };
  const labels = Array.from(document.querySelectorAll('svg g[id*="-label-"]')).map(box);
  const markers = Array.from(document.querySelectorAll('svg g[id*="-marker-"]')).map(box);
  const images = Array.from(document.images).map((i) => ({src: i.src.slice(0, 80), ok: i.complete && i.naturalWidth > 0}));
  const column = document.body.getBoundingClientRect().width
    - parseFloat(getComputedStyle(document.body).paddingLeft) - parseFloat(getComputedStyle(document.body).paddingRight);
  const plots = Array.from(document.querySelectorAll("figure.plot")).map((f) => ({id: f.id,
    width: f.querySelector("svg") ? f.querySelector("svg").getBoundingClientRect().width : 0}));
  const cells = Array.from(document.querySelectorAll("td")).map((td) => ({text: td.innerText.trim(),
    align: getComputedStyle(td).textAlign}));
  const probe = document.createElement("pre");
  probe.id = "jk-probe";
  probe.textContent = JSON.stringify({labels, markers, images, column, plots, cells, text: document.body.innerText});
  document.body.appendChild(probe);
});
</script>"""

_MARKDOWN = [(re.compile(r"\*\*[^*\n]+\*\*"), "bold **...**"), (re.compile(r"`[^`\n]+`"), "backticks `...`"),
             (re.compile(r"!?\[[^\]\n]+\]\([^)\n]+\)"), "link [..](..)"), (re.compile(r"(?m)^#{1,6} "), "# heading"),
             (re.compile(r"\|\s*:?-{3,}:?\s*\|"), "table rule |---|"), (re.compile(r"(?<![\w*])__[^_\n]+__(?!\w)"), "bold __...__"),
             (re.compile(r"</?(?:strong|em|code|p|table|td|br)\b[^>\n]*>"), "escaped HTML tag")]
_NUMBER = re.compile(r"^[+\-−]?[\d,]*\.?\d+(?:e[+\-]?\d+)?(?:x|%| ?KiB| ?MiB)?(?:[–-]\d[\d.,]*)?(?: / \d+)?$")


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


def _chromium(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not installed (Debian: apt-get install chromium; scripts/setup.sh --dev "
                                "does it when run as root)")
    with tempfile.TemporaryDirectory(prefix="jk-chromium-") as profile:
        return subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                              timeout=timeout)


def measure(page: Path, width: int = 1280, height: int = 1000, timeout: float = 120) -> dict:
    """What Chromium measured on ``page`` (a copy with the probe appended; the original is not touched)."""
    text = Path(page).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="jk-page-") as tmp:
        probed = Path(tmp) / Path(page).name
        cut = text.rfind("</body>")
        probed.write_text(text[:cut] + _PROBE + text[cut:] if cut >= 0 else text + _PROBE, encoding="utf-8")
        for extra in Path(page).parent.glob("plots"):  # pages that link their images instead of embedding them
            shutil.copytree(extra, Path(tmp) / "plots")
        done = _chromium([f"--window-size={width},{height}", "--virtual-time-budget=15000", "--dump-dom",
                          probed.as_uri()], timeout)
    found = re.search(r'<pre id="jk-probe">(.*?)</pre>', done.stdout, re.S)
    if found is None:
        raise RuntimeError(f"chromium did not run the probe on {page} (exit {done.returncode}): {done.stderr[-800:]}")
    return json.loads(html.unescape(found.group(1)))


def _overlap(a: dict, b: dict, tol: float = 0.5) -> bool:
    return min(a["x1"], b["x1"]) - max(a["x0"], b["x0"]) > tol and min(a["y1"], b["y1"]) - max(a["y0"], b["y0"]) > tol


def problems(m: dict) -> list[str]:
    """Everything wrong with a measured page, one line each (empty: the page is fine)."""
    out = []
    for pattern, what in _MARKDOWN:
        for hit in pattern.findall(m["text"])[:3]:
            out.append(f"raw Markdown ({what}) in the page's text: {hit!r}")
    labels = m["labels"]
    for i, a in enumerate(labels):
        out += [f"labels overlap in {a['plot']}: {a['id']} and {b['id']}" for b in labels[i + 1:]
                if a["plot"] == b["plot"] and _overlap(a, b)]
        out += [f"label over a marker in {a['plot']}: {a['id']} covers {mk['id']}" for mk in m["markers"]
                if mk["plot"] == a["plot"] and _overlap(a, mk)]
    out += [f"image did not load: {img['src']}" for img in m["images"] if not img["ok"]]
    out += [f"plot {p['id']} is {p['width']:.0f} px wide, under 90% of the {m['column']:.0f} px text column"
            for p in m["plots"] if p["width"] < 0.9 * m["column"]]
    for c in m["cells"]:
        numeric = bool(_NUMBER.match(c["text"]))
        align = {"start": "left", "end": "right"}.get(c["align"], c["align"])  # the page is left-to-right
        if numeric and align != "right":
            out.append(f"number cell {c['text']!r} is aligned {align}, not right")
        elif not numeric and c["text"] not in ("", "–") and align != "left":
            out.append(f"text cell {c['text']!r} is aligned {align}, not left")
    return out


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 2200, shrink_to: int = 1000,
               timeout: float = 120) -> Path:
    """A PNG of the page's first ``height`` pixels, scaled to ``shrink_to`` wide and palette-quantized (small)."""
    with tempfile.TemporaryDirectory(prefix="jk-shot-") as tmp:
        raw = Path(tmp) / "shot.png"
        _chromium([f"--window-size={width},{height}", "--virtual-time-budget=15000", f"--screenshot={raw}",
                   Path(page).resolve().as_uri()], timeout)
        if not raw.is_file():
            raise RuntimeError(f"chromium wrote no screenshot of {page}")
        from PIL import Image

        img = Image.open(raw).convert("RGB")
        if shrink_to and img.width > shrink_to:
            img = img.resize((shrink_to, round(img.height * shrink_to / img.width)), Image.LANCZOS)
        img.quantize(colors=256, method=Image.FASTOCTREE).save(png, optimize=True)
    return png


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="list what is wrong with the page as Chromium draws it")
    c.add_argument("page", type=Path)
    s = sub.add_parser("shot", help="a small PNG screenshot of the page")
    s.add_argument("page", type=Path)
    s.add_argument("png", type=Path)
    s.add_argument("--width", type=int, default=1280)
    s.add_argument("--height", type=int, default=2200)
    args = ap.parse_args(argv)
    if args.command == "shot":
        print(screenshot(args.page, args.png, args.width, args.height))
        return 0
    found = problems(measure(args.page))
    print("\n".join(found) if found else f"{args.page}: no problems found")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
