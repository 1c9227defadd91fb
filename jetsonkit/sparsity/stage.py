"""The prune stage as one contract: :class:`PruneSettings` + :class:`~jetsonkit._train.FinetuneSettings` and
:func:`run_prune` -> :class:`PruneRun`; the sparsity report as :func:`run_sparsity` -> :class:`SparsityOutcome`.

``jetsonkit prune``'s flags and a recipe's ``stages.prune`` section (``finetune:`` inside it) are read off the two
settings classes (:mod:`jetsonkit.settings`), so their defaults and checks are these. Nothing heavy is imported here.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from .._train import FinetuneSettings, Loss, torch_threads
from ..errors import InputSpecError, UsageError
from ..settings import check, option

__all__ = ["PATTERNS", "PruneSettings", "FinetuneSettings", "PruneRun", "run_prune", "SparsityOutcome",
           "run_sparsity"]

PATTERNS = ("2:4",)  # NVIDIA sparse tensor cores run 2:4 (Mishra et al. 2021, arXiv:2104.08378)


@dataclass(frozen=True)
class PruneSettings:
    """Which layers are pruned to which pattern, and whether channels are permuted first."""

    sparsity: str = option("2:4", "sparsity pattern (2:4: the pattern NVIDIA sparse tensor cores run)",
                           choices=PATTERNS)
    permute: bool = option(False, "reorder channels first so the masks keep more magnitude (Pool & Yu 2021)")
    include: tuple[str, ...] = option((), "prune only layers matching this shell-style pattern", metavar="PATTERN")
    exclude: tuple[str, ...] = option((), "never prune layers matching this pattern", metavar="PATTERN")
    # on a CPU other jobs already load, one thread wastes least: the bundled detector's training step measured
    # 0.22 CPU-s on one thread and 4.5 CPU-s on two (load ~10 on 2 cores: the second thread spins for its share)
    threads: int | None = option(None, "PyTorch threads for the fine-tune (default: torch's, one per core)",
                                 minimum=1)


@dataclass
class PruneRun:
    """What :func:`run_prune` did: the pruning (per layer), the fine-tune, top-1 figures, the checkpoint."""

    pruned: Any  # PruneResult
    finetune: Any = None  # FinetuneResult
    finetune_settings: FinetuneSettings | None = None
    top1: dict[str, float] = field(default_factory=dict)  # dense / pruned / finetuned, with eval data
    output: str | None = None
    data: str | None = None  # the training data spec, when one was given
    model: Any = None  # the pruned (and fine-tuned) nn.Module

    @property
    def pruned_layers(self) -> list[str]:
        return self.pruned.pruned_layers

    @property
    def mode(self) -> str:
        """``none``, ``labels`` or ``distill``: how the fine-tune ran (recorded in the checkpoint)."""
        return self.finetune.mode if self.finetune is not None else "none"

    def as_dict(self) -> dict:
        out: dict[str, Any] = {"output": self.output, **self.pruned.as_dict()}
        out.update({f"top1_{k}": v for k, v in self.top1.items()})
        if self.finetune is not None:
            s = self.finetune_settings
            out["finetune"] = {**self.finetune.as_dict(), "data": self.data, "lr": s.lr, "batch_size": s.batch_size}
        return out

    def text(self) -> str:
        lines = [self.pruned.table()]
        for key, label in (("dense", "dense"), ("pruned", "2:4 pruned"), ("finetuned", "2:4 fine-tuned")):
            if key in self.top1:
                lines.append(f"top-1 {label}: {100 * self.top1[key]:.2f} %")
        if self.output:
            lines.append(f"wrote {self.output} ({len(self.pruned_layers)} layers 2:4)")
        return "\n".join(lines)


def _check_request(settings: PruneSettings, finetune: FinetuneSettings | None, train: Any, example: Any) -> None:
    """UsageError for a request whose parts would do nothing or cannot run (flags named as the CLI spells them)."""
    if finetune is not None and train is None:
        raise UsageError("--finetune needs --data (the training data)", hint="e.g. --data mnist:train:20000")
    if settings.permute and example is None and train is None:
        raise UsageError("--permute needs an example input to trace the model", hint="pass --input input:1x1x28x28")
    unused = [name for name, value, used in (("--data", train, finetune is not None or settings.permute),
                                             ("--input", example, settings.permute)) if value is not None and not used]
    if unused:
        raise UsageError(f"{', '.join(unused)} would do nothing: they set fine-tuning (--finetune / --distill) "
                         f"or the example input of --permute", hint="add the option they belong to, or drop them")


def _prunable(model: Any, weights: str | None):
    from .._deps import require
    from ..modelspec import load_model

    torch = require("torch", purpose="2:4 pruning")
    module = load_model(model, weights) if isinstance(model, str) else model
    if not isinstance(module, torch.nn.Module) or isinstance(module, torch.jit.ScriptModule):
        raise UsageError(f"{str(model)!r} is a {type(module).__name__}, whose weights cannot be pruned and saved here",
                         hint="give the model as package.module:factory or file.py:factory (+ --weights)")
    return module


def _arrays(data: Any) -> Any:
    """A data spec read as ``(x, y)``; arrays and batch iterables as they are."""
    if isinstance(data, (str, os.PathLike)):
        from ..data import load_xy

        return load_xy(str(data))
    return data


def _example(model: Any, example: Any, train: Any):
    """The tensor --permute traces with: ``example`` (a tensor or NAME:SHAPE text) or the first training sample;
    InputSpecError when the model's forward rejects it."""
    from .._deps import require

    torch = require("torch", purpose="channel permutation")
    if isinstance(example, str):
        from ..specs import parse_input_spec

        tensor, where = torch.from_numpy(parse_input_spec(example).example()), example
    elif example is not None:
        tensor, where = example, "example_input"
    elif isinstance(train, tuple):
        tensor, where = torch.from_numpy(train[0][:1].astype("float32")), "the first training sample"
    else:
        raise UsageError("--permute needs an example input when the training data are batches",
                         hint="pass example_input (a tensor) or --input NAME:SHAPE")
    try:
        with torch.no_grad():
            model(tensor)
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError / ValueError / TypeError for a bad input
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputSpecError(f"the model does not accept the example input of --permute ({where}, shape "
                             f"{list(tensor.shape)}): {first}",
                             hint="give --input the shape the model's forward expects, e.g. input:1x1x28x28") from exc
    return tensor


def _loader(train: Any, finetune: FinetuneSettings, custom_loss: bool) -> Iterable:
    """Batches from ``(x, y)`` arrays (labels dropped for plain distillation); a batch iterable as it is."""
    if not isinstance(train, tuple):
        return train
    from .torchdata import batches

    x, y = train
    keep_y = custom_loss or not finetune.distill  # a task's own loss may use labels and the teacher
    return batches(x, y if keep_y else None, batch_size=finetune.batch_size)


def run_prune(model: Any, settings: PruneSettings = PruneSettings(), finetune: FinetuneSettings | None = None, *,
              train: Any = None, eval_data: Any = None, example_input: Any = None, loss: Loss | None = None,
              output: str | os.PathLike | None = None, weights: str | None = None, meta: dict | None = None,
              label: str = "fine-tune (2:4 masks held)") -> PruneRun:
    """2:4-prune ``model`` in place, fine-tune it with the masks held (when ``finetune`` is given), save the
    verified checkpoint to ``output`` (when given); returns a :class:`PruneRun`.

    ``model``: an ``nn.Module`` or a spec :func:`jetsonkit.modelspec.load_model` reads (with ``weights``).
    ``train``: ``(x, y or None)`` arrays, a data spec (``mnist:train:20000``, an .npz, a folder), or an iterable of
    batches ``(x, *targets)`` for a task's own ``loss`` (which overrides ``finetune.loss``; see
    :mod:`jetsonkit._train`). ``eval_data``: labelled ``(x, y)`` or a data spec: top-1 before / after.
    ``example_input`` (tensor or ``NAME:SHAPE``; default the first training sample) is what ``permute`` traces.
    """
    from .._io import check_output_path, check_output_suffix
    from .checkpoint import save_pruned
    from .finetune import finetune as run_finetune
    from .prune import prune_2to4
    from .torchdata import top1

    settings = check(settings)
    finetune = check(finetune) if finetune is not None else None
    _check_request(settings, finetune, train, example_input)
    if output is not None:
        check_output_suffix(output, (".pt", ".pth"), "a pruned checkpoint")
        check_output_path(output, inputs=(weights,))
    module = _prunable(model, weights)
    teacher = copy.deepcopy(module) if finetune is not None and finetune.distill else None
    run = PruneRun(None, finetune_settings=finetune, output=str(output) if output is not None else None,
                   data=str(train) if isinstance(train, (str, os.PathLike)) else None, model=module)
    train, eval_data = _arrays(train), _arrays(eval_data)
    if eval_data is not None:
        run.top1["dense"] = top1(module, *eval_data)
    example = _example(module, example_input, train) if settings.permute else None
    run.pruned = prune_2to4(module, include=list(settings.include) or None, exclude=list(settings.exclude) or None,
                            permute=settings.permute, example_input=example)
    if eval_data is not None:
        run.top1["pruned"] = top1(module, *eval_data)
    if finetune is not None:
        custom = loss if loss is not None else finetune.loss
        with torch_threads(settings.threads):
            run.finetune = run_finetune(module, _loader(train, finetune, custom is not None), run.pruned.masks,
                                        loss=custom, teacher=teacher, epochs=finetune.epochs, lr=finetune.lr,
                                        max_steps=finetune.max_steps, label=label)
        if eval_data is not None:
            run.top1["finetuned"] = top1(module, *eval_data)
    if output is not None:
        save_pruned(module, output, run.pruned_layers, meta={**{f"top1_{k}": v for k, v in run.top1.items()},
                                                             "permute": settings.permute, "finetune": run.mode,
                                                             **(meta or {})})
    return run


@dataclass
class SparsityOutcome:
    """What :func:`run_sparsity` found: the JSON-able data, the text for people, and whether a check failed."""

    data: dict
    text: str
    failed: bool = False


_ACTION_OPTIONS = {"report": ("--expect-all", "--expect"), "prune-onnx": ("--include", "--exclude", "-o/--output")}


def run_sparsity(action: str, model: str | os.PathLike, *, expect_all: bool = False,
                 expect: Sequence[str] | None = None, include: Sequence[str] | None = None,
                 exclude: Sequence[str] | None = None, output: str | os.PathLike | None = None) -> SparsityOutcome:
    """``report``: the per-layer 2:4 report of an ONNX / Q/DQ ONNX model or a pruned checkpoint (failed when
    ``expect_all`` / ``expect`` layers do not hold 2:4, or a checkpoint's masks were lost); ``prune-onnx``: 2:4 the
    eligible float weights of an ONNX model into ``output``, FOR SPEED EXPERIMENTS ONLY."""
    given = {"--expect-all": expect_all, "--expect": expect, "--include": include, "--exclude": exclude,
             "-o/--output": output}
    owner = "prune-onnx" if action == "report" else "report"
    unused = [name for name in _ACTION_OPTIONS[owner] if given[name]]
    if unused:
        raise UsageError(f"{', '.join(unused)} belong(s) to `sparsity {owner}`, not `sparsity {action}`",
                         hint="drop them, or run the other action")
    if action == "prune-onnx":
        return _prune_onnx(model, output, include, exclude)
    if str(model).endswith((".pt", ".pth")):
        return _report_checkpoint(str(model))
    from ..errors import CheckFailed
    from .onnx_report import report_onnx

    report = report_onnx(model)
    outcome = SparsityOutcome(report.as_dict(), report.table())
    if expect_all or expect:
        try:
            report.require_sparse(expect)
        except CheckFailed as exc:
            outcome.data["error"], outcome.text, outcome.failed = str(exc), f"{outcome.text}\nFAILED: {exc}", True
    return outcome


def _prune_onnx(model, output, include, exclude) -> SparsityOutcome:
    from .._io import check_output_path, check_output_suffix
    from .onnx_report import SPEED_ONLY_LABEL, prune_onnx_initializers

    if not output:
        raise UsageError("sparsity prune-onnx needs -o OUT.onnx")
    check_output_suffix(output, (".onnx",), "an ONNX model")
    check_output_path(output, inputs=(model,))
    report = prune_onnx_initializers(model, output, include=include, exclude=exclude)
    return SparsityOutcome({**report.as_dict(), "label": SPEED_ONLY_LABEL},
                           f"{report.table()}\nwrote {output}: {SPEED_ONLY_LABEL}")


def _report_checkpoint(path: str) -> SparsityOutcome:
    from .checkpoint import load_pruned, lost_mask_layers
    from .masks import zero_fraction

    payload = load_pruned(path, verify=False)
    bad = lost_mask_layers(payload)
    rows, lines = [], [f"{'layer':<30} {'2:4':<4} {'zeros':>6}"]
    for layer in payload["sparse_layers"]:
        w = payload["state_dict"].get(f"{layer}.weight")
        zeros = zero_fraction(w.float().numpy()) if w is not None else 0.0
        rows.append({"layer": layer, "pattern_holds": layer not in bad, "zero_fraction": zeros})
        lines.append(f"{layer:<30} {'yes' if layer not in bad else 'NO':<4} {zeros:>6.3f}")
    data = {"path": path, "pattern": payload.get("pattern"), "layers": rows, "meta": payload.get("meta", {})}
    if bad:
        msg = f"masks lost in {', '.join(bad)}"
        lines.append(f"FAILED: 2:4 verification of {path}: {msg}")
        return SparsityOutcome({**data, "error": msg}, "\n".join(lines), failed=True)
    lines.append(f"{len(rows)} layers hold 2:4 in {path}")
    return SparsityOutcome(data, "\n".join(lines))
