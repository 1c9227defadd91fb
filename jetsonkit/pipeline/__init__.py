"""One recipe, every target: ``jetsonkit compress``, the trade-off report and the CI gates.

- :mod:`.recipe` — the recipe file validated into declared config objects (:func:`load_recipe`).
- :mod:`.stages` — content-hashed, resumable stage outputs (:class:`StageStore`).
- :mod:`.steps` — the stages themselves (export, prune + fine-tune, calibrate, quantize, convert, build).
- :mod:`.measure` — accuracy and latency of one artifact through one Runtime.
- :mod:`.run` — :func:`compress`, the orchestration.
- :mod:`.report` / :mod:`.report_html` / :mod:`.plots` — the report's figures, Markdown, HTML and plots;
  :mod:`.report_files` writes them (:func:`render_report`).
- :mod:`.gates` — CI gates on a report (:func:`gate_rows`).

Names resolve lazily: importing this package needs numpy alone.
"""

from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {
    "load_recipe": "jetsonkit.pipeline.recipe",
    "Recipe": "jetsonkit.pipeline.recipe",
    "compress": "jetsonkit.pipeline.run",
    "CompressResult": "jetsonkit.pipeline.run",
    "render_report": "jetsonkit.pipeline.report_files",
    "Budget": "jetsonkit.pipeline.gates",
    "gate_rows": "jetsonkit.pipeline.gates",
    "load_report": "jetsonkit.pipeline.gates",
    "StageStore": "jetsonkit.pipeline.stages",
    "bundled_recipe": "jetsonkit.pipeline.bundled",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
