"""A strict fake ``tensorrt`` module generated from a dump of the real bindings (jetsonkit/engine/trt_api/*.json).

Test support only: it proves that our code makes calls the real Python API of that version accepts (names,
overloads, argument types, writable properties, enum classes, trampoline method arity), never what TensorRT does
with them. Behaviour we depend on is modelled by a small state machine in :mod:`trt_fake.world`.

pybind11 rules modelled (pybind11 docs, "Functions" / "Classes" / "Overloaded functions"):
- overloads are tried in order; a call matches when every positional / keyword argument binds to a parameter,
  every parameter without a default is bound, and each value converts to the parameter's type;
- ``int`` takes int / bool / objects with ``__index__`` but not float; ``float`` takes int and float; ``bool`` only
  bool; ``str`` only str (not pathlib.Path); a registered class takes its instances or None; an enum only its own
  members (no int, no other enum); ``Dims`` also a list / tuple of ints (TensorRT registers that conversion);
- a read-only property refuses assignment; instances refuse unknown attributes (no ``py::dynamic_attr``);
- a Python subclass of a trampoline class must call the base ``__init__`` before it is handed to TensorRT.
"""

from __future__ import annotations

import inspect
import json
import re
import types
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

API_DIR = Path(__file__).resolve().parents[2] / "jetsonkit" / "engine" / "trt_api"
# dump name -> the binding version it was made from, read off the committed dumps
DUMPS = {p.stem: json.loads(p.read_text())["version"]
         for p in sorted(API_DIR.glob("*.json"), key=lambda p: tuple(int(x) for x in p.stem.split(".")))}

# trampoline bases a Python subclass implements, and the methods TensorRT calls on it
TRAMPOLINES = {
    "ILogger": ("log",),
    "IProgressMonitor": ("phase_start", "step_complete", "phase_finish"),
    "IInt8EntropyCalibrator2": ("get_batch_size", "get_batch", "read_calibration_cache", "write_calibration_cache"),
    "IOutputAllocator": ("reallocate_output", "notify_shape"),
}


@lru_cache(maxsize=None)
def load_dump(name: str) -> dict:
    return json.loads((API_DIR / f"{name}.json").read_text())


class FakeTrtError(AssertionError):
    """The fake refused a call that the real TensorRT would refuse, crash on, or silently mishandle."""


def _norm(t: str) -> str:
    t = t.strip()
    for prefix in ("typing_extensions.", "collections.abc.", "typing."):
        t = t.replace(prefix, "")
    return t


class EnumValue:
    """One member of a fake pybind11 enum."""

    __slots__ = ("enum", "name", "value")

    def __init__(self, enum: type, name: str, value: int):
        self.enum, self.name, self.value = enum, name, value

    def __int__(self) -> int:
        return self.value

    __index__ = __int__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EnumValue) and other.enum is self.enum and other.value == self.value

    def __hash__(self) -> int:
        return hash((self.enum.__qualname__, self.value))

    def __repr__(self) -> str:
        return f"<{self.enum.__qualname__}.{self.name}: {self.value}>"


class Dims:
    """TensorRT's Dims: a sequence of ints (iterable, indexable, len)."""

    def __init__(self, shape=()):
        self._d = tuple(int(x) for x in shape)

    def __iter__(self):
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __getitem__(self, i):
        return self._d[i]

    def __eq__(self, other) -> bool:
        return tuple(self) == tuple(other)

    def __repr__(self) -> str:
        return f"Dims({list(self._d)})"


class FakeObject:
    """Base of every generated class."""

    _qual = "object"
    _api: "FakeTrt"

    def __init__(self, *args, **kwargs):
        cls = type(self)
        owner = next((c for c in cls.__mro__ if "__init__" in getattr(c, "_methods", {})), None)
        if owner is None:
            raise TypeError(f"tensorrt.{cls._qual}: No constructor defined!")
        bound = self._api.resolve(owner._qual, "__init__", owner._methods["__init__"], args, kwargs)
        object.__setattr__(self, "_trt_init", True)
        hook = self._api.world.hook(owner._qual, "__init__")
        if hook:
            hook(self, **bound)

    @classmethod
    def _make(cls, **state):
        obj = object.__new__(cls)
        object.__setattr__(obj, "_trt_init", True)
        for k, v in state.items():
            object.__setattr__(obj, k, v)
        return obj

    def __setattr__(self, name, value):
        prop = getattr(type(self), name, None)
        if isinstance(prop, FakeProperty):
            prop.__set__(self, value)
        elif name.startswith("_") or not type(self)._generated:  # a Python subclass has a __dict__
            object.__setattr__(self, name, value)
        else:
            raise AttributeError(f"'tensorrt.{type(self)._qual}' object has no attribute '{name}' "
                                 f"(TensorRT {self._api.__version__})")

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        cls._generated = False
        for base, hooks in TRAMPOLINES.items():
            if not any(getattr(b, "_qual", None) == base for b in cls.__mro__):
                continue
            expected = cls._api.override_arity(base)
            for name in hooks:
                fn = getattr(cls, name, None)
                if fn is None or getattr(fn, "_fake", False):
                    continue
                params = [p for p in inspect.signature(fn).parameters.values()
                          if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
                want = expected.get(name)
                if want is not None and len(params) - 1 != want:
                    raise FakeTrtError(f"{cls.__name__}.{name} takes {len(params) - 1} argument(s) after self; "
                                       f"TensorRT {cls._api.__version__} calls {base}.{name} with {want}")


class FakeProperty:
    def __init__(self, qual: str, name: str, spec: dict):
        self.qual, self.name, self.type, self.writable = qual, name, spec["type"], spec["writable"]

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        hook = obj._api.world.hook(self.qual, self.name, "get")
        if hook:
            return hook(obj)
        key = "_p_" + self.name
        if key in obj.__dict__:
            return obj.__dict__[key]
        return obj._api.default(self.type)

    def __set__(self, obj, value):
        if not self.writable:
            raise AttributeError(f"can't set attribute '{self.name}' (read-only {self.qual}.{self.name} in TensorRT "
                                 f"{obj._api.__version__})")
        if not obj._api.accepts(self.type, value):
            raise TypeError(f"{self.qual}.{self.name}: incompatible value {value!r} for type {self.type}")
        obj.__dict__["_p_" + self.name] = value
        hook = obj._api.world.hook(self.qual, self.name, "set")
        if hook:
            hook(obj, value)


def _method(qual: str, name: str, sigs: list[dict]) -> Callable:
    def call(self, *args, **kwargs):
        api = self._api
        bound = api.resolve(qual, name, sigs, args, kwargs)
        hook = api.world.hook(qual, name)
        if hook:
            return hook(self, **bound)
        return api.default(api.returns(sigs, bound))

    call.__name__ = name
    call._fake = True
    return call


class FakeTrt(types.ModuleType):
    """The fake module for one dump; ``world`` holds the behaviour (see trt_fake.world)."""

    def __init__(self, dump_name: str, world: Any):
        super().__init__("tensorrt")
        self._dump = load_dump(dump_name)
        self.__version__ = self._dump["version"]
        self.world = world
        world.trt = self
        self._classes: dict[str, type] = {}
        for qual in sorted(self._dump["classes"], key=lambda q: q.count(".")):
            self._build_class(qual)
        for qual, cls in self._classes.items():
            if "." not in qual:
                setattr(self, qual, cls)
        for name, (enum, value) in self._dump["constants"].items():
            setattr(self, name, self._enum_member(enum, value))
        for name, sigs in self._dump["functions"].items():
            setattr(self, name, self._function(name, sigs))
        self.nptype = self._nptype
        self.volume = lambda iterable: int(np.prod(list(iterable)))

    # ---- classes -----------------------------------------------------------------------------------------------
    def _build_class(self, qual: str) -> type:
        if qual in self._classes:
            return self._classes[qual]
        spec = self._dump["classes"][qual]
        bases = tuple(self._build_class(b) for b in spec["bases"] if b in self._dump["classes"]) or (FakeObject,)
        ns: dict[str, Any] = {"_qual": qual, "_api": self, "_generated": True, "_methods": spec["methods"],
                              "__qualname__": qual, "__module__": "tensorrt"}
        for name, sigs in spec["methods"].items():
            if name != "__init__":
                ns[name] = _method(qual, name, sigs)
        for name, sigs in spec["static"].items():
            ns[name] = staticmethod(self._function(f"{qual}.{name}", sigs))
        for name, pspec in spec["properties"].items():
            ns[name] = FakeProperty(qual, name, pspec)
        cls = type(qual.rsplit(".", 1)[-1], bases, ns)
        cls._generated = True
        if qual == "IHostMemory":  # the real one exports the buffer protocol: bytes(host_memory) works
            cls.__bytes__ = lambda obj: bytes(obj._data)
        self._classes[qual] = cls
        if "enum" in spec:
            cls.__members__ = {}
            for name, value in spec["enum"].items():
                member = EnumValue(cls, name, value)
                cls.__members__[name] = member
                type.__setattr__(cls, name, member)
        if "." in qual:
            type.__setattr__(self._classes[qual.rsplit(".", 1)[0]], qual.rsplit(".", 1)[1], cls)
        for name, (kind, value) in spec["constants"].items():
            if kind in self._dump["classes"]:
                type.__setattr__(cls, name, self._enum_member(kind, value))
        return cls

    def _enum_member(self, enum: str, value: int) -> EnumValue:
        cls = self._build_class(enum)
        return next(m for m in cls.__members__.values() if m.value == value)

    def _function(self, name: str, sigs: list[dict]) -> Callable:
        def call(*args, **kwargs):
            bound = self.resolve("", name, sigs, args, kwargs)
            hook = self.world.hook("", name)
            return hook(**bound) if hook else self.default(self.returns(sigs, bound))

        call.__name__ = name
        return call

    def _nptype(self, trt_type: EnumValue) -> type:
        table = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32, "BOOL": np.bool_,
                 "UINT8": np.uint8, "INT64": np.int64}  # tensorrt_bindings/__init__.py's nptype table
        if not isinstance(trt_type, EnumValue) or trt_type.enum is not self.DataType:
            raise TypeError(f"nptype() takes a tensorrt.DataType, not {trt_type!r}")
        if trt_type.name not in table:
            raise TypeError(f"Could not resolve TensorRT datatype to an equivalent numpy datatype. {trt_type}")
        return table[trt_type.name]

    def override_arity(self, base: str) -> dict[str, int]:
        spec = self._dump["classes"].get(base, {})
        arity = {n: len(s[0]["args"]) for n, s in spec.get("methods", {}).items() if s and n != "__init__"}
        for n, params in (spec.get("python_overrides") or {}).items():
            if n != "__init__":
                arity[n] = len(params)
        return arity

    def cls(self, qual: str) -> type:
        return self._classes[qual]

    # ---- overload resolution ---------------------------------------------------------------------------------------
    def _class_of(self, t: str) -> type | None:
        t = _norm(t)
        if t.startswith("nvinfer1::") or t.startswith("nvonnxparser::"):
            t = t.rsplit("::", 1)[-1]
        if t in self._classes:
            return self._classes[t]
        if t.startswith("I") and t[1:] in self._classes:
            return self._classes[t[1:]]
        return None

    def accepts(self, t: str, v: Any) -> bool:
        t = _norm(t)
        if t.startswith("Optional[") or t.startswith("Union["):
            inner = t[t.index("[") + 1:-1]
            return v is None or any(self.accepts(p, v) for p in _split(inner))
        if t in ("int", "SupportsInt"):
            return (isinstance(v, (int, np.integer)) or hasattr(type(v), "__index__")) and not isinstance(v, (float, EnumValue))
        if t in ("float", "SupportsFloat"):
            return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        if t == "bool":
            return isinstance(v, (bool, np.bool_))
        if t == "str":
            return isinstance(v, str)
        if t == "bytes":
            return isinstance(v, bytes)
        if t in ("buffer", "Buffer"):
            return isinstance(v, (bytes, bytearray, memoryview, np.ndarray)) or \
                isinstance(v, self._classes.get("IHostMemory", ()))
        if t == "tuple":
            return isinstance(v, tuple)
        if t == "list":
            return isinstance(v, list)
        m = re.match(r"^(List|Sequence)\[(.*)\]$", t)
        if m:
            return isinstance(v, (list, tuple)) and all(self.accepts(m.group(2), x) for x in v)
        if t in ("capsule", "CapsuleType"):
            return v is None or isinstance(v, (FakeObject, int))
        if t in ("Dims", "Dims32", "Dims64", "Dims2", "Dims3", "Dims4", "DimsHW", "DimsNCHW"):
            return isinstance(v, Dims) or (isinstance(v, (list, tuple)) and all(self.accepts("int", x) for x in v))
        if t == "numpy.ndarray":
            return isinstance(v, np.ndarray)
        cls = self._class_of(t)
        if cls is not None:
            if hasattr(cls, "__members__"):
                return isinstance(v, EnumValue) and v.enum is cls
            if v is None:
                return True
            if isinstance(v, cls):
                if not getattr(v, "_trt_init", False):
                    raise TypeError(f"{type(v).__name__}.__init__() must be called when overriding __init__")
                return True
            return False
        return True  # object, Iterable, Callable, templates the fake does not model

    def resolve(self, qual: str, name: str, sigs: list[dict], args: tuple, kwargs: dict) -> dict:
        """Bind ``args`` / ``kwargs`` to the first overload that accepts them (pybind11's order); TypeError if none."""
        for sig in sigs:
            params = sig["args"]
            if len(args) > len(params):
                continue
            bound = {p["name"]: a for p, a in zip(params, args)}
            names = {p["name"] for p in params}
            if any(k in bound or k not in names for k in kwargs):
                continue
            bound.update(kwargs)
            if any(p["name"] not in bound and "default" not in p for p in params):
                continue
            if all(self.accepts(p["type"], bound[p["name"]]) for p in params if p["name"] in bound):
                bound["__sig__"] = sig
                return bound
        supported = "\n".join(f"    {i + 1}. ({', '.join(a['name'] + ': ' + a['type'] for a in s['args'])})"
                              for i, s in enumerate(sigs))
        got = ", ".join([type(a).__name__ for a in args] + [f"{k}={type(v).__name__}" for k, v in kwargs.items()])
        raise TypeError(f"{qual + '.' if qual else ''}{name}(): incompatible function arguments for TensorRT "
                        f"{self.__version__}. The following argument types are supported:\n{supported}\n"
                        f"Invoked with: {got}")

    def returns(self, sigs: list[dict], bound: dict) -> str:
        return bound.get("__sig__", sigs[0] if sigs else {"returns": "None"})["returns"]

    def default(self, t: str) -> Any:
        t = _norm(t)
        if t in ("None", "object"):
            return None
        if t == "bool":
            return True
        if t in ("int", "SupportsInt"):
            return 0
        if t == "float":
            return 0.0
        if t == "str":
            return ""
        if t.startswith(("List[", "Sequence[")):
            return []
        if t.startswith("Dims"):
            return Dims(())
        cls = self._class_of(t)
        if cls is not None:
            if hasattr(cls, "__members__"):
                return next(iter(cls.__members__.values()))
            return cls._make()
        return None


def _split(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "[("
        depth -= ch in "])"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur] if cur else parts
