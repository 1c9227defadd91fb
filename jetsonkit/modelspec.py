"""Load the model a user names on the command line.

Accepted forms:

- ``package.module:factory`` — imported with importlib; ``factory`` (a class or function, dotted attributes allowed)
  is called with no arguments; the current directory is searched too (as ``python -m`` does; the ``jetsonkit``
  console script would otherwise not see it);
- ``path/to/file.py:factory`` — the user's own file is imported as a module (that is the contract: it is code the
  user asks us to run, exactly like ``python file.py``: its folder comes first on ``sys.path``, so its sibling
  modules import);
- ``model.pt`` / ``model.ts`` — a TorchScript program (``torch.jit.load``);
- ``model.pt2`` — a ``torch.export`` program (``torch.export.load``).

Weights (``--weights``) are only ever read with ``torch.load(..., weights_only=True)``: a state_dict, or a dict that
holds one under ``state_dict`` / ``model``. Keys that do not match are named in the error (first few of each kind).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from ._deps import require
from .errors import ModelLoadError

__all__ = ["load_model", "load_weights", "resolve_factory", "import_function"]

_SPEC_FORMS = "package.module:factory, path/to/file.py:factory, model.pt (TorchScript) or model.pt2 (torch.export)"
_SHOW = 3  # mismatched keys named per kind


def load_model(spec: str, weights: str | None = None) -> Any:
    """The model named by ``spec`` in eval mode (an ``nn.Module``, ScriptModule or ExportedProgram)."""
    torch = require("torch", purpose="loading a PyTorch model")
    path = Path(spec)
    if path.suffix in (".pt", ".ts", ".pt2") and ":" not in spec:
        model = _load_program(torch, path)
    else:
        with _search_path(spec):  # a factory may import lazily: the folder stays searchable while it runs
            factory = resolve_factory(spec)
            try:
                model = factory()
            except Exception as exc:  # the user's factory failed: say which and why
                raise ModelLoadError(f"model factory {spec!r} raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(model, torch.nn.Module):
            raise ModelLoadError(
                f"model factory {spec!r} returned {type(model).__name__}, not a torch.nn.Module",
                hint="the factory must build and return the model",
            )
    if weights:
        if not isinstance(model, torch.nn.Module) or isinstance(model, torch.jit.ScriptModule):
            raise ModelLoadError(f"--weights applies to a factory model, not to the program file {spec!r}",
                                 hint="programs carry their own weights; drop --weights")
        load_weights(model, weights)
    if hasattr(model, "eval") and not _is_exported_program(torch, model):
        model.eval()
    return model


def _is_exported_program(torch, obj: Any) -> bool:
    return isinstance(obj, torch.export.ExportedProgram)


def _load_program(torch, path: Path) -> Any:
    if not path.is_file():
        raise ModelLoadError(f"model file {str(path)!r} does not exist", hint=f"give {_SPEC_FORMS}")
    import zipfile

    kind = "torch.export program (.pt2)" if path.suffix == ".pt2" else "TorchScript program"
    if not zipfile.is_zipfile(path):  # both are zip archives; torch would log a traceback before failing
        raise ModelLoadError(f"{str(path)!r} is not a readable {kind}: not a zip archive (truncated or another format)",
                             hint="save it with torch.export.save / torch.jit.save, or give package.module:factory")
    try:
        if path.suffix == ".pt2":
            return torch.export.load(str(path))
        with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; reading existing programs still works
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise ModelLoadError(f"{str(path)!r} is not a readable {kind}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                             hint="save it with torch.export.save / torch.jit.save, or give package.module:factory") from exc


@contextlib.contextmanager
def _search_path(spec: str):
    """For the block, the folder ``spec``'s imports start from first on ``sys.path``, as Python itself would put it
    there: a ``file.py`` spec's folder (``python file.py``), else the current directory (``python -m``). Taken
    out again afterwards unless it was there already; modules imported meanwhile stay in ``sys.modules``."""
    module_part = spec.rpartition(":")[0]
    folder = str(Path(module_part).resolve().parent) if module_part.endswith(".py") else os.getcwd()
    present = folder in sys.path or (not module_part.endswith(".py") and "" in sys.path)
    if not present:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if not present and folder in sys.path:
            sys.path.remove(folder)


def resolve_factory(spec: str) -> Any:
    """The callable that ``module:attr`` or ``file.py:attr`` names."""
    module_part, sep, attr = spec.rpartition(":")
    if not sep or not module_part or not attr:
        raise ModelLoadError(f"model spec {spec!r} has no factory", hint=f"write {_SPEC_FORMS}")
    with _search_path(spec):
        module = _import_file(module_part) if module_part.endswith(".py") else _import_module(module_part)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = sorted(n for n, v in vars(module).items() if not n.startswith("_") and callable(v)
                            and getattr(v, "__module__", None) == module.__name__)[:8]
            raise ModelLoadError(
                f"model spec {spec!r}: {module_part!r} has no attribute {attr!r}",
                hint=f"callables there: {', '.join(public) or 'none'}",
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelLoadError(f"model spec {spec!r}: {attr!r} is a {type(obj).__name__}, not a callable factory")
    return obj


def import_function(spec: str) -> Any:
    """The function ``package.module:name`` names (a training loss, a recipe metric), imported as a model factory's
    module is: the current folder is searched too. ImportError / AttributeError, or TypeError when the object is not
    callable, go to the caller, which words the error for its own option."""
    module, _, name = spec.partition(":")
    with _search_path(spec):
        fn = getattr(importlib.import_module(module), name)
    if not callable(fn):
        raise TypeError(f"{spec!r} is a {type(fn).__name__}, not a function")
    return fn


def _import_module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise ModelLoadError(f"model module {name!r} cannot be found",
                                 hint="check the spelling and that its package is installed, or give path/to/file.py:factory") from exc
        raise ModelLoadError(f"model module {name!r} failed to import: {exc}") from exc
    except Exception as exc:
        raise ModelLoadError(f"model module {name!r} failed to import: {type(exc).__name__}: {exc}") from exc


def _import_file(file: str):
    path = Path(file)
    if not path.is_file():
        raise ModelLoadError(f"model file {file!r} does not exist", hint=f"give {_SPEC_FORMS}")
    name = f"_jetsonkit_user_{path.stem}_{abs(hash(str(path.resolve()))) % 10**8}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module  # dataclasses and pickling look modules up here
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr] - the user's own file: the documented contract
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ModelLoadError(f"model file {file!r} failed to import: {type(exc).__name__}: {exc}") from exc
    return module


def load_weights(model: Any, weights: str) -> None:
    """Load a state_dict file into ``model`` (``weights_only=True``); name the first mismatched keys on failure."""
    torch = require("torch", purpose="loading weights")
    if not Path(weights).is_file():
        raise ModelLoadError(f"weights file {weights!r} does not exist")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"weights file {weights!r} cannot be read with weights_only=True: {first}",
                             hint="save a plain state_dict with torch.save(model.state_dict(), path)") from exc
    state = _unwrap_state_dict(state, weights)
    problems = _state_dict_mismatch(model.state_dict(), state)
    if problems:
        raise ModelLoadError(f"weights {weights!r} do not match the model: {problems}",
                             hint="check that the factory builds the architecture these weights were trained for")
    model.load_state_dict(state)


def _unwrap_state_dict(state: Any, weights: str) -> dict:
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise ModelLoadError(f"weights file {weights!r} holds a {type(state).__name__}, not a state_dict",
                             hint="save it with torch.save(model.state_dict(), path)")
    return state


def _state_dict_mismatch(expected: dict, given: dict) -> str:
    """'' when keys and shapes agree, else a short description naming the first mismatched keys."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shapes = [
        f"{k} {tuple(given[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in given and hasattr(given[k], "shape") and tuple(given[k].shape) != tuple(expected[k].shape)
    ]
    parts = []
    for label, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatch", shapes)):
        if keys:
            more = f" (+{len(keys) - _SHOW} more)" if len(keys) > _SHOW else ""
            parts.append(f"{label}: {', '.join(keys[:_SHOW])}{more}")
    return "; ".join(parts)
