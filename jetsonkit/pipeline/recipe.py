"""The recipe: one YAML file that names the model, the data, the stages and the targets, as declared config objects.

Every section maps one to one onto a frozen dataclass below; unknown keys are refused (with a did-you-mean), types
are checked, data paths must exist, and every error names the file, the key and the line::

    jetsonkit compress: error: recipe.yaml:14: key 'stages.prune.finetune.epochs': expected an integer, got 'one'

Relative paths are resolved against the recipe's folder. The bundled example is ``jetsonkit/examples/mnist_recipe.yaml``.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from ..convert.stage import ConvertSettings
from ..convert.tflite import PRECISIONS as TFLITE_PRECISIONS
from ..engine.options import PRECISIONS as TRT_PRECISIONS
from .._train import FinetuneSettings
from ..engine.options import BuildSettings
from ..calibrate import CalibrationSettings
from ..errors import ConfigError
from ..preprocess.config import PreprocessSpec
from ..qat.stage import QatSettings
from ..sparsity.stage import PruneSettings
from ..quantize.plan import PRECISIONS as ORT_PRECISIONS
from ..quantize.stage import QuantizeSettings
from ..settings import SettingError, check
from ..runtime.benchmark import BenchSettings
from .gates import Budget
from .yamlmarks import LocatedYaml, dotted, load_located_yaml


__all__ = ["ModelConfig", "InputConfig", "CalibrationConfig", "EvaluationConfig", "FinetuneConfig", "PruneConfig",
           "QuantizeConfig", "QatConfig", "StagesConfig", "TargetConfig", "BenchSettings", "Recipe",
           "load_recipe", "BACKENDS", "METRICS", "MAP_METRICS"]

BACKENDS = ("onnxruntime", "tflite", "tensorrt")
# each backend's precisions from its stage (a recipe target names one precision: TensorRT's "best" mix is the CLI's)
PRECISIONS = {"onnxruntime": ORT_PRECISIONS, "tflite": TFLITE_PRECISIONS,
              "tensorrt": tuple(p for p in TRT_PRECISIONS if p != "best")}
MAP_METRICS = ("map50", "map50_95")  # detection: COCO mAP@0.5, mAP@0.5:0.95 (jetsonkit.pipeline.detection)
METRICS = ("top1", "agreement", *MAP_METRICS)
DTYPES = ("float32", "float16", "float64", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")
_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class ModelConfig:
    """``spec`` (a PyTorch factory, as ``jetsonkit export`` takes it) or ``onnx`` (an exported file), not both."""

    spec: str | None = None
    onnx: str | None = None
    weights: str | None = None


@dataclass(frozen=True)
class InputConfig:
    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    dynamic_batch: bool = True


@dataclass(frozen=True, kw_only=True)
class CalibrationConfig(CalibrationSettings):
    """``calibration``: the calibration stage's own settings (:class:`jetsonkit.calibrate.CalibrationSettings`:
    same keys, defaults and checks as ``jetsonkit calibrate``'s flags) plus the calibration data."""

    data: str


@dataclass(frozen=True)
class EvaluationConfig:
    """``metric``: ``top1`` (needs labels), ``agreement`` (top-1 agreement with FP32), ``map50`` / ``map50_95``
    (a detector on detection data: ``mnist_det:test:500``, a COCO or a YOLO folder; both mAPs and box agreement
    with FP32 are reported, the metric named is the one gated), or ``module:function`` called as
    ``function(outputs, labels) -> float`` (a fraction in [0, 1], higher is better)."""

    data: str
    metric: str = "top1"


@dataclass(frozen=True, kw_only=True)
class FinetuneConfig(FinetuneSettings):
    """``stages.prune.finetune``: the fine-tune's own settings (:class:`jetsonkit._train.FinetuneSettings`: same
    keys, defaults and checks as ``jetsonkit prune``'s flags) plus the training data."""

    data: str


@dataclass(frozen=True, kw_only=True)
class PruneConfig(PruneSettings):
    """``stages.prune``: the prune stage's own settings (:class:`jetsonkit.sparsity.stage.PruneSettings`: same keys,
    defaults and checks as ``jetsonkit prune``'s flags) plus its fine-tune."""

    finetune: FinetuneConfig | None = None


@dataclass(frozen=True, kw_only=True)
class QuantizeConfig(QuantizeSettings):
    """``stages.quantize``: the quantize stage's own settings (:class:`jetsonkit.quantize.stage.QuantizeSettings`:
    ``plan`` or ``auto_budget``, ``mode``, ``weights``; same defaults and checks as ``jetsonkit quantize``'s flags)
    plus the validation ``data`` that ``auto_budget`` needs."""

    data: str | None = None


@dataclass(frozen=True, kw_only=True)
class QatConfig(QatSettings):
    """``stages.qat``: the QAT stage's own settings (:class:`jetsonkit.qat.stage.QatSettings`: same keys, defaults
    and checks as ``jetsonkit qat``'s flags) plus the training data."""

    data: str


@dataclass(frozen=True)
class StagesConfig:
    prune: PruneConfig | None = None
    quantize: QuantizeConfig = QuantizeConfig()
    qat: QatConfig | None = None


@dataclass(frozen=True)
class TargetConfig:
    """One deployment target. A tflite target's ``precision`` and ``input_layout`` are the convert stage's
    :class:`~jetsonkit.convert.stage.ConvertSettings` fields (same defaults, checked by that class)."""

    backend: str
    precision: str = ConvertSettings.precision
    sparsity: bool = False
    qat: bool = False
    dla: bool = False
    trt_version: str = "10.3"
    max_batch: int = 32
    input_layout: str = ConvertSettings.input_layout
    name: str = ""

    def convert_settings(self) -> ConvertSettings:
        """The convert stage's settings this target asks for (unchecked: see :func:`~jetsonkit.settings.check`);
        another backend's precision is its own stage's business, so only a tflite target passes it on."""
        shared = {f.name for f in fields(ConvertSettings) if f.metadata.get("recipe", True)}
        if self.backend != "tflite":
            shared.discard("precision")
        return ConvertSettings(**{k: getattr(self, k) for k in shared})

    def build_settings(self, **inputs: Any) -> BuildSettings:
        """The build stage's settings this tensorrt target asks for (its precision, sparsity, DLA core 0 for
        ``dla``, TensorRT version), plus the build ``inputs`` the pipeline adds (profiles, precision plan);
        SettingError for a value BuildSettings refuses."""
        return BuildSettings(precision=self.precision, sparsity=self.sparsity, dla_core=0 if self.dla else None,
                             trt_version=self.trt_version, **inputs)


@dataclass(frozen=True)
class Recipe:
    path: str
    name: str
    model: ModelConfig
    inputs: tuple[InputConfig, ...]
    calibration: CalibrationConfig
    evaluation: EvaluationConfig
    targets: tuple[TargetConfig, ...]
    outputs: tuple[str, ...] = ("output",)
    stages: StagesConfig = StagesConfig()
    budgets: Budget = Budget()  # the check stage's settings (jetsonkit check's gate flags)
    bench: BenchSettings = BenchSettings()  # the bench stage's settings (jetsonkit bench's flags)
    preprocess: PreprocessSpec | None = None  # how images become the input (image-folder data; stored in the ONNX)
    lines: dict = field(default_factory=dict, compare=False, repr=False)

    def where(self, *path: Any) -> str:
        """``file:line: key 'a.b'`` for error messages raised after loading."""
        return LocatedYaml(self.path, None, self.lines).where(tuple(path))

    def target(self, name: str) -> TargetConfig:
        return next(t for t in self.targets if t.name == name)


# ---- generic conversion: mapping -> dataclass, with file/key/line in every error ---------------------------------

def _fail(doc: LocatedYaml, path: tuple, message: str, hint: str | None = None) -> ConfigError:
    return ConfigError(f"{doc.where(path)}: {message}", hint=hint)


def _type_name(tp: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(tp, str(tp))


def _convert(doc: LocatedYaml, value: Any, tp: Any, path: tuple) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(doc, value, inner, path)
    if tp is PreprocessSpec:  # its own validation, each error at the line of its key
        return PreprocessSpec.from_dict(value, where=lambda key: doc.where(path + (key,) if key else path))
    if is_dataclass(tp):
        return _build(doc, tp, value, path)
    if origin is tuple:
        items = [value] if isinstance(value, str) and args[0] is str else value
        if not isinstance(items, list):
            raise _fail(doc, path, f"expected a list, got {value!r}")
        return tuple(_convert(doc, v, args[0], path + (i,)) for i, v in enumerate(items))
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # trt_version: 10.3 reads as a float in YAML
    if tp in (str, int, bool) and type(value) is tp:
        return value
    raise _fail(doc, path, f"expected {_type_name(tp)}, got {value!r}")


def _build(doc: LocatedYaml, cls: type, value: Any, path: tuple, extra: dict | None = None) -> Any:
    if not isinstance(value, dict):
        raise _fail(doc, path, f"expected a mapping of {cls.__name__} keys, got {value!r}")
    hints = typing.get_type_hints(cls)
    offered = [f for f in fields(cls) if f.metadata.get("recipe", True)]  # a settings field may be CLI-only
    known = [f.name for f in offered if f.name != "lines" and f.name not in (extra or {})]
    for key in value:
        if str(key) not in known:
            near = difflib.get_close_matches(str(key), known, n=1)
            raise _fail(doc, path + (str(key),), "unknown key",
                        hint=f"did you mean {near[0]!r}?" if near else f"known keys: {', '.join(known)}")
    kwargs = dict(extra or {})
    for f in offered:
        if f.name in kwargs or f.name == "lines":
            continue
        if f.name in value:
            kwargs[f.name] = _convert(doc, value[f.name], hints[f.name], path + (f.name,))
        elif f.default is MISSING and f.default_factory is MISSING:
            raise _fail(doc, path, f"missing required key {dotted(path + (f.name,))!r}")
    return cls(**kwargs)


# ---- semantic checks -------------------------------------------------------------------------------------------

def _resolve_path(doc: LocatedYaml, base: Path, text: str, path: tuple) -> str:
    p = Path(text).expanduser()
    p = p if p.is_absolute() else base / p
    if not p.exists():
        raise _fail(doc, path, f"file {text!r} does not exist (looked for {p})",
                    hint="fix the path (relative paths start at the recipe's folder)")
    return str(p)


def _data_spec(doc: LocatedYaml, base: Path, text: str, path: tuple) -> str:
    """Any data spec :class:`jetsonkit.data.DataSpec` parses (relative paths from the recipe's folder), resolved;
    a bad one is a ConfigError with file, key and line."""
    from ..data import DataSpec
    from ..errors import DataError

    try:
        spec = DataSpec.parse(text, base=base)
    except DataError as exc:
        raise _fail(doc, path, exc.message, hint=exc.hint) from exc
    return spec.text if spec.kind in ("mnist", "mnist_det") else spec.location


def _data_kind(doc: LocatedYaml, base: Path, text: str, path: tuple) -> str:
    """The kind of a data spec (mnist, mnist_det, npz, images, coco, ...); a bad one is a ConfigError."""
    from ..data import DataSpec
    from ..errors import DataError

    try:
        return DataSpec.parse(text, base=base).kind
    except DataError as exc:
        raise _fail(doc, path, exc.message, hint=exc.hint) from exc


def _labelled(doc: LocatedYaml, data: str, path: tuple) -> bool:
    from ..data import DataSpec
    from ..errors import DataError

    try:
        return DataSpec.parse(data).labelled()
    except DataError as exc:
        raise _fail(doc, path, exc.message, hint=exc.hint) from exc


def _choice(doc: LocatedYaml, value: str, choices: tuple, path: tuple) -> None:
    if value not in choices:
        near = difflib.get_close_matches(value, choices, n=1)
        raise _fail(doc, path, f"{value!r} is not one of {', '.join(choices)}",
                    hint=f"did you mean {near[0]!r}?" if near else None)


def _check_model(doc: LocatedYaml, base: Path, m: ModelConfig) -> ModelConfig:
    if (m.spec is None) == (m.onnx is None):
        raise _fail(doc, ("model",), "give exactly one of 'spec' (PyTorch factory) and 'onnx' (a .onnx file)")
    onnx = _resolve_path(doc, base, m.onnx, ("model", "onnx")) if m.onnx else None
    weights = _resolve_path(doc, base, m.weights, ("model", "weights")) if m.weights else None
    spec = m.spec
    if spec and ".py:" in spec:
        file, _, attr = spec.rpartition(":")
        spec = f"{_resolve_path(doc, base, file, ('model', 'spec'))}:{attr}"
    return ModelConfig(spec=spec, onnx=onnx, weights=weights)


def _check_stages(doc: LocatedYaml, base: Path, s: StagesConfig, model: ModelConfig) -> StagesConfig:
    prune = _check_prune(doc, base, s.prune, model)
    q = s.quantize
    _check_settings(doc, q, ("stages", "quantize"))
    if q.auto_budget is not None and q.data is None:
        raise _fail(doc, ("stages", "quantize", "auto_budget"), "auto_budget needs validation 'data' (labelled)",
                    hint="add data: mnist:val:2000 or an .npz with x and y")
    plan = _resolve_path(doc, base, q.plan, ("stages", "quantize", "plan")) if q.plan else None
    data = _data_spec(doc, base, q.data, ("stages", "quantize", "data")) if q.data else None
    return StagesConfig(prune=prune, quantize=QuantizeConfig(**{**q.__dict__, "plan": plan, "data": data}),
                        qat=_check_qat(doc, base, s.qat, model))


def _check_prune(doc: LocatedYaml, base: Path, prune: PruneConfig | None, model: ModelConfig) -> PruneConfig | None:
    if prune is None:
        return None
    path = ("stages", "prune")
    _check_settings(doc, prune, path)
    if model.spec is None:
        raise _fail(doc, path, "2:4 pruning with fine-tuning needs the PyTorch model",
                    hint="give model.spec (and weights) instead of model.onnx, or drop stages.prune")
    ft, path = prune.finetune, path + ("finetune",)
    if ft is None:
        return prune
    _check_settings(doc, ft, path)
    _check_detection_finetune(doc, base, ft, path)
    data = _training_data(doc, base, ft, path, "fine-tuning data", "the dense model")
    return PruneConfig(**{**prune.__dict__, "finetune": FinetuneConfig(**{**ft.__dict__, "data": data})})


def _training_data(doc: LocatedYaml, base: Path, section: Any, path: tuple, what: str, teacher: str) -> str:
    """A checked fine-tune section's (FinetuneSettings + data) data spec, resolved; labels must be in the data unless
    it distils or brings its own loss."""
    data = _data_spec(doc, base, section.data, path + ("data",))
    if not section.distill and section.loss is None and not _labelled(doc, data, path + ("data",)):
        raise _fail(doc, path + ("data",), f"{what} {section.data!r} has no labels",
                    hint=f"give an .npz with x and y (or class sub-folders), or set distill: true (distillation "
                    f"from {teacher}), or a loss: module:function that needs none")
    return data


def _check_qat(doc: LocatedYaml, base: Path, qat: QatConfig | None, model: ModelConfig) -> QatConfig | None:
    if qat is None:
        return None
    path = ("stages", "qat")
    if model.spec is None:
        raise _fail(doc, path, "quantization-aware training needs the PyTorch model",
                    hint="give model.spec (and weights) instead of model.onnx, or drop stages.qat")
    _check_settings(doc, qat, path)
    data = _training_data(doc, base, qat, path, "QAT data", "the FP32 model")
    return QatConfig(**{**qat.__dict__, "data": data})


def _targets(doc: LocatedYaml, raw: Any) -> tuple[TargetConfig, ...]:
    if not isinstance(raw, dict) or not raw:
        raise _fail(doc, ("targets",), "expected a mapping of target names to settings, e.g. "
                    "cpu: {backend: onnxruntime}")
    out = []
    for name, value in raw.items():
        path = ("targets", str(name))
        t = _build(doc, TargetConfig, value, path, extra={"name": str(name)})
        _choice(doc, t.backend, BACKENDS, path + ("backend",))
        _choice(doc, t.precision, PRECISIONS[t.backend], path + ("precision",))
        _check_settings(doc, t.convert_settings(), path)  # the layout (a tflite target's precision): convert's
        if t.backend == "tensorrt":  # precision, sparsity, dla, trt_version: the build stage's own checks
            try:
                t.build_settings()
            except SettingError as exc:
                raise _fail(doc, path + ({"dla_core": "dla"}.get(exc.key, exc.key),), str(exc), hint=exc.hint) from None
        if t.qat and (t.precision != "int8" or t.backend not in ("onnxruntime", "tensorrt")):
            raise _fail(doc, path + ("qat",), f"qat: true needs precision int8 with backend onnxruntime or "
                        f"tensorrt (this target: {t.backend} {t.precision})",
                        hint="QAT writes a Q/DQ ONNX; use it from an onnxruntime or tensorrt int8 target")
        if t.dla and (t.backend != "tensorrt" or t.precision == "fp32"):
            raise _fail(doc, path + ("dla",), "dla: true needs backend tensorrt with precision fp16 or int8")
        if t.max_batch < 1:
            raise _fail(doc, path + ("max_batch",), f"max_batch {t.max_batch} must be >= 1")
        out.append(t)
    return tuple(out)


def _check_detection_finetune(doc: LocatedYaml, base: Path, ft: Any, path: tuple) -> None:
    """Detection data trains with boxes: its batches are (x, boxes, labels), which only a detection loss reads."""
    from ..data.spec import DETECTION_KINDS

    if ft.loss is None and _data_kind(doc, base, ft.data, path + ("data",)) in DETECTION_KINDS:
        raise _fail(doc, path + ("data",), f"fine-tuning on detection data {ft.data!r} needs a detection loss",
                    hint="add loss: module:function(outputs, (boxes, labels), teacher_outputs); the bundled "
                    "detector's: jetsonkit.examples.detector_loss:finetune_loss")


def _check_settings(doc: LocatedYaml, settings: Any, path: tuple) -> None:
    """A section that is a stage's settings gets that stage's checks; the error names the key and its line."""
    try:
        check(settings)
    except SettingError as exc:
        raise _fail(doc, path + (exc.key,), str(exc), hint=exc.hint) from None


def _check_sections(doc: LocatedYaml, r: Recipe, base: Path) -> Recipe:
    c, e = r.calibration, r.evaluation
    _check_settings(doc, c, ("calibration",))
    if e.metric not in METRICS and not _CALLABLE.match(e.metric):
        raise _fail(doc, ("evaluation", "metric"), f"metric {e.metric!r} is not top1, agreement, map50, map50_95 or "
                    "module:function")
    from ..data.spec import DETECTION_KINDS

    boxes = _data_kind(doc, base, e.data, ("evaluation", "data")) in DETECTION_KINDS
    if e.metric in MAP_METRICS and not boxes:
        raise _fail(doc, ("evaluation", "data"), f"metric {e.metric} needs detection data (boxes), {e.data!r} has "
                    "none", hint="give mnist_det:test:500, a COCO folder (images/ + annotations.json) or a YOLO "
                    "folder (images/ + labels/)")
    if e.metric == "top1" and boxes:
        raise _fail(doc, ("evaluation", "metric"), f"{e.data!r} is detection data: metric top1 does not apply",
                    hint="use metric: map50 (or map50_95)")
    if r.budgets.max_map_drop is not None and e.metric not in MAP_METRICS:
        raise _fail(doc, ("budgets", "max_map_drop"), f"max_map_drop gates an mAP metric; this recipe's metric is "
                    f"{e.metric}", hint="use max_accuracy_drop, or metric: map50 on detection data")
    for k, inp in enumerate(r.inputs):
        _choice(doc, inp.dtype, DTYPES, ("inputs", k, "dtype"))
    _check_settings(doc, r.budgets, ("budgets",))
    if len(r.inputs) != 1:
        raise _fail(doc, ("inputs",), f"compress takes models with one input, this recipe lists {len(r.inputs)}",
                    hint="e.g. inputs: [{name: input, shape: [1, 3, 224, 224]}]; multi-input models: use the "
                    "stage commands (export, calibrate, quantize, build) directly")
    if any(t.sparsity for t in r.targets) and r.stages.prune is None:
        t = next(t for t in r.targets if t.sparsity)
        raise _fail(doc, ("targets", t.name, "sparsity"), "a sparse target needs stages.prune",
                    hint="add stages: {prune: {sparsity: '2:4', finetune: {data: ...}}}")
    for t in r.targets:
        if t.qat and r.model.spec is None:
            raise _fail(doc, ("targets", t.name, "qat"), "a QAT target needs the PyTorch model",
                        hint="give model.spec (and weights) instead of model.onnx")
        if t.qat and r.stages.qat is None:
            raise _fail(doc, ("targets", t.name, "qat"), "a QAT target needs stages.qat",
                        hint="add stages: {qat: {data: mnist:train:20000, max_steps: 60, learn_scales: true}}")
    _check_settings(doc, r.bench, ("bench",))
    preprocess = r.preprocess
    if preprocess is None and e.metric in MAP_METRICS:  # a detector's default: letterbox (YOLO's), colour off the input
        preprocess = PreprocessSpec(resize="letterbox", color="gray" if r.inputs[0].shape[1] == 1 else "rgb")
    return Recipe(**{**{f.name: getattr(r, f.name) for f in fields(r)}, "preprocess": preprocess,
                     "calibration": CalibrationConfig(**{**c.__dict__, "data": _data_spec(
                         doc, base, c.data, ("calibration", "data"))}),
                     "evaluation": EvaluationConfig(**{**e.__dict__, "data": _data_spec(
                         doc, base, e.data, ("evaluation", "data"))})})


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file; raises ConfigError naming file, key and line."""
    doc = load_located_yaml(path)
    if not isinstance(doc.data, dict):
        raise _fail(doc, (), "a recipe is a YAML mapping with model, inputs, calibration, evaluation and targets")
    base = Path(path).resolve().parent
    raw = dict(doc.data)
    targets = _targets(doc, raw.pop("targets", None))
    raw.setdefault("name", Path(path).stem)
    recipe = _build(doc, Recipe, raw, (), extra={"targets": targets, "path": str(path)})
    model = _check_model(doc, base, recipe.model)
    stages = _check_stages(doc, base, recipe.stages, model)
    recipe = Recipe(**{**{f.name: getattr(recipe, f.name) for f in fields(recipe)},
                       "model": model, "stages": stages, "lines": doc.lines})
    return _check_sections(doc, recipe, base)
