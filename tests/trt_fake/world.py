"""The behaviour behind the strict fake: a small state machine for what our TensorRT code relies on, plus a fake
``pycuda.driver`` whose device memory the fake engine reads and writes. Test support only.

Modelled behaviour (each refusal is a rule a test feeds a wrong call to):
- the OnnxParser owns the parsed weights: it must be alive when ``build_serialized_network`` runs;
- dynamic inputs need an optimization profile; TensorRT < 10 parses ONNX only into an EXPLICIT_BATCH network;
- ``set_timing_cache(cache, ignore_mismatch=False)`` returns False for a cache from another device / version;
- ``deserialize_cuda_engine`` returns None for bytes that are no engine, for an engine with plugin layers before
  ``init_libnvinfer_plugins``, and for a version-compatible engine unless ``engine_host_code_allowed`` is set;
- ``execute_async_v3`` returns False unless every dynamic input has a shape and every I/O tensor an address (or an
  output allocator); an execution context must not be enqueued on a second stream while its work on another
  stream may still run (no event edge between them);
- data-dependent outputs (NonZero, NonMaxSuppression) report -1 dims until run; the output allocator gets
  ``reallocate_output(_async)`` and ``notify_shape``.
The engine "computes" by running its ONNX model with ONNX Runtime on the bytes at the bound addresses.
"""

from __future__ import annotations

import itertools
import json
import types
import weakref
from typing import Any

import numpy as np

DATA_DEPENDENT_OPS = {"NonZero", "NonMaxSuppression", "Unique"}
PLUGIN_OPS_SUFFIX = "_TRT"  # TensorRT plugin ops in ONNX (EfficientNMS_TRT, ROIAlign_TRT, ...)
_ADDR = itertools.count(0x7F0000001000, 0x100000)


class World:
    """State shared by the fake tensorrt module and the fake pycuda.driver of one test."""

    def __init__(self, *, dla_cores: int = 2, integrated: bool = True, gpu: str = "Orin", cc: tuple = (8, 7)):
        self.dla_cores, self.integrated, self.gpu, self.cc = dla_cores, integrated, gpu, cc
        self.trt: Any = None
        self.plugins_initialised = False
        self.log: list[str] = []  # what the fake TensorRT logged (errors explain a False / None)
        self.memory: dict[int, np.ndarray] = {}  # device address -> uint8 view
        self.streams: dict[int, "Stream"] = {}
        self.contexts_alive = 0
        self.primary_retained = 0
        self.freed: list[int] = []
        self._hooks = _hooks(self)

    def hook(self, qual: str, name: str, kind: str = "call"):
        return self._hooks.get((qual, name, kind))

    def error(self, msg: str) -> None:
        self.log.append(msg)

    # ---- device memory ---------------------------------------------------------------------------------------------
    def alloc(self, nbytes: int, host: np.ndarray | None = None) -> int:
        addr = next(_ADDR)
        self.memory[addr] = host if host is not None else np.zeros(max(nbytes, 1), np.uint8)
        return addr

    def view(self, addr: int, nbytes: int) -> np.ndarray:
        for base, buf in self.memory.items():
            if base <= addr and addr + nbytes <= base + buf.nbytes:
                return buf[addr - base: addr - base + nbytes]
        raise AssertionError(f"fake CUDA: {nbytes} bytes at {addr:#x} are not inside any live device allocation")

    def free(self, addr: int) -> None:
        self.memory.pop(addr)
        self.freed.append(addr)


# ---- engines ---------------------------------------------------------------------------------------------------------
def engine_spec_from_onnx(path: str) -> dict:
    """What the fake builder keeps of an ONNX model: I/O with -1 for dynamic dims, layers, plugins."""
    import onnx

    model = onnx.load(path)
    g = model.graph
    inits = {i.name for i in g.initializer}

    def dims(vi):
        return [d.dim_value if d.HasField("dim_value") else -1 for d in vi.type.tensor_type.shape.dim]

    def dtype(vi):
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)).name

    ops = {n.op_type for n in g.node}
    inputs = [{"name": vi.name, "shape": dims(vi), "dtype": dtype(vi)} for vi in g.input if vi.name not in inits]
    outputs = [{"name": vi.name, "shape": dims(vi), "dtype": dtype(vi)} for vi in g.output]
    layers = [{"name": n.name or f"{n.op_type}_{i}", "op": n.op_type, "outputs": list(n.output)}
              for i, n in enumerate(g.node)]
    return {"onnx": _kept_copy(path), "inputs": inputs, "outputs": outputs, "layers": layers,
            "data_dependent": bool(ops & DATA_DEPENDENT_OPS),
            "plugins": sorted(o for o in ops if o.endswith(PLUGIN_OPS_SUFFIX))}


_SESSIONS: dict[str, Any] = {}
_KEPT: list = []  # one temporary folder per process for the graphs fake engines run


def _kept_copy(path: str) -> str:
    """A copy of the parsed ONNX file that outlives the build (a real engine holds its weights; the graph the
    builder parsed may be a temporary rewrite, e.g. the EfficientNMS_TRT or FP16 version, deleted after the build)."""
    import hashlib
    import tempfile
    from pathlib import Path

    import onnx

    if not _KEPT:
        _KEPT.append(tempfile.TemporaryDirectory(prefix="trt-fake-"))
    data = onnx.load(path).SerializeToString()  # external data inlined
    kept = Path(_KEPT[0].name) / (hashlib.sha256(data).hexdigest()[:16] + ".onnx")
    if not kept.exists():
        kept.write_bytes(data)
    return str(kept)


def _split_plugins(path: str):
    """(ONNX Runtime session of the graph without its plugin nodes, whose outputs include the plugins' inputs;
    the plugin nodes as (op, inputs, outputs, attributes); the graph's output names). A plugin must end the graph:
    its outputs are graph outputs only."""
    import onnx
    import onnxruntime as ort

    from .plugins import REFERENCES

    model = onnx.load(path)
    g = model.graph
    plugins = [n for n in g.node if n.op_type.endswith(PLUGIN_OPS_SUFFIX)]
    names = [o.name for o in g.output]
    if not plugins:
        return ort.InferenceSession(path, providers=["CPUExecutionProvider"]), [], names
    consumed = {i for n in g.node for i in n.input}
    nodes = []
    for n in plugins:
        if n.op_type not in REFERENCES:
            _refuse(None, f"fake engine: no reference for plugin {n.op_type}")
        assert not set(n.output) & consumed, f"fake engine: plugin {n.op_type} must end the graph"
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
        nodes.append((n.op_type, list(n.input), list(n.output), attrs))
        g.node.remove(n)
    produced = {o for _, _, outs, _ in nodes for o in outs}
    keep = [o for o in g.output if o.name not in produced]
    del g.output[:]
    g.output.extend(keep)
    g.output.extend(onnx.helper.make_tensor_value_info(i, onnx.TensorProto.FLOAT, None)
                    for _, ins, _, _ in nodes for i in ins if i not in {o.name for o in keep})
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess, nodes, names


def run_onnx(path: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The engine's outputs: ONNX Runtime on the graph, plugin nodes computed by their reference (plugins.py)."""
    from .plugins import REFERENCES

    if path not in _SESSIONS:
        _SESSIONS[path] = _split_plugins(path)
    sess, plugins, names = _SESSIONS[path]
    values = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    for op, ins, outs, attrs in plugins:
        values.update(zip(outs, REFERENCES[op](attrs, *(values[i] for i in ins))))
    return {n: values[n] for n in names}


def _refuse(world: World, msg: str):
    from .strict import FakeTrtError

    raise FakeTrtError(msg)


def _hooks(w: World) -> dict:
    T = lambda: w.trt  # noqa: E731 - the module is attached after construction
    h: dict = {}

    def on(qual, name, kind="call"):
        def deco(fn):
            h[(qual, name, kind)] = fn
            return fn
        return deco

    @on("", "init_libnvinfer_plugins")
    def _(logger=None, namespace="", **_):
        w.plugins_initialised = True
        return True

    @on("Builder", "__init__")
    def _(self, logger, **_):
        self._logger = logger

    @on("Builder", "num_DLA_cores", "get")
    def _(self):
        return w.dla_cores

    @on("Builder", "create_network")
    def _(self, flags=0, **_):
        return T().cls("INetworkDefinition")._make(_flags=int(flags), _spec=None, _parser=None, _tensors={})

    @on("Builder", "create_builder_config")
    def _(self, **_):
        return T().cls("IBuilderConfig")._make(_flags=set(), _profiles=[], _pools={}, _timing=None)

    @on("Builder", "create_optimization_profile")
    def _(self, **_):
        return T().cls("IOptimizationProfile")._make(_shapes={})

    @on("IOptimizationProfile", "set_shape")
    def _(self, input, min, opt, max, **_):
        lo, mid, hi = (tuple(int(x) for x in s) for s in (min, opt, max))
        if not (len(lo) == len(mid) == len(hi) and all(a <= b <= c for a, b, c in zip(lo, mid, hi))):
            _refuse(w, f"profile shapes for {input!r} are not min <= opt <= max: {lo} {mid} {hi}")
        self._shapes[input] = (lo, mid, hi)

    @on("IBuilderConfig", "set_flag")
    def _(self, flag, **_):
        self._flags.add(flag.name)

    @on("IBuilderConfig", "get_flag")
    def _(self, flag, **_):
        return flag.name in self._flags

    @on("IBuilderConfig", "set_memory_pool_limit")
    def _(self, pool, pool_size, **_):
        self._pools[pool.name] = int(pool_size)

    @on("IBuilderConfig", "add_optimization_profile")
    def _(self, profile, **_):
        self._profiles.append(profile)
        return len(self._profiles) - 1

    @on("IBuilderConfig", "create_timing_cache")
    def _(self, serialized_timing_cache, **_):
        return T().cls("ITimingCache")._make(_data=bytes(serialized_timing_cache))

    @on("IBuilderConfig", "set_timing_cache")
    def _(self, cache, ignore_mismatch, **_):
        if cache._data.startswith(b"OTHER-DEVICE") and not ignore_mismatch:
            w.error("timing cache was produced on another device / TensorRT version: not used")
            return False
        self._timing = cache
        return True

    @on("IBuilderConfig", "get_timing_cache")
    def _(self, **_):
        return self._timing

    @on("ITimingCache", "serialize")
    def _(self, **_):
        return T().cls("IHostMemory")._make(_data=b"TIMING:" + self._data.removeprefix(b"TIMING:") + b"+")

    @on("OnnxParser", "__init__")
    def _(self, network, logger, **_):
        self._network, self._errors = network, []
        network._parser = weakref.ref(self)

    def _parse(parser, path):
        net = parser._network
        if int(T().__version__.split(".")[0]) < 10:
            bit = 1 << int(T().NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
            if not net._flags & bit:
                parser._errors.append("network must be created with EXPLICIT_BATCH to parse ONNX")
                return False
        net._spec = engine_spec_from_onnx(path)
        return True

    @on("OnnxParser", "parse_from_file")
    def _(self, model, **_):
        return _parse(self, model)

    @on("OnnxParser", "num_errors", "get")
    def _(self):
        return len(self._errors)

    def _tensor(net, name):
        if name not in net._tensors:
            net._tensors[name] = T().cls("ITensor")._make(_name=name, _range=None)
        return net._tensors[name]

    @on("ITensor", "name", "get")
    def _(self):
        return self._name

    @on("ITensor", "set_dynamic_range")
    def _(self, min, max, **_):
        self._range = (float(min), float(max))
        return True

    @on("INetworkDefinition", "num_layers", "get")
    def _(self):
        return len(self._spec["layers"]) if self._spec else 0

    @on("INetworkDefinition", "num_inputs", "get")
    def _(self):
        return len(self._spec["inputs"]) if self._spec else 0

    @on("INetworkDefinition", "num_outputs", "get")
    def _(self):
        return len(self._spec["outputs"]) if self._spec else 0

    @on("INetworkDefinition", "get_input")
    def _(self, index, **_):
        return _tensor(self, self._spec["inputs"][index]["name"])

    @on("INetworkDefinition", "get_output")
    def _(self, index, **_):
        return _tensor(self, self._spec["outputs"][index]["name"])

    @on("INetworkDefinition", "get_layer")
    def _(self, index, **_):
        spec = self._spec["layers"][index]
        return T().cls("ILayer")._make(_spec=spec, _net=self)

    @on("ILayer", "name", "get")
    def _(self):
        return self._spec["name"]

    @on("ILayer", "num_outputs", "get")
    def _(self):
        return len(self._spec["outputs"])

    @on("ILayer", "get_output")
    def _(self, index, **_):
        return _tensor(self._net, self._spec["outputs"][index])

    @on("Builder", "build_serialized_network")
    def _(self, network, config, **_):
        parser = network._parser() if network._parser else None
        if parser is None:
            _refuse(w, "build_serialized_network: the OnnxParser that filled this network was destroyed "
                       "(it owns the weights: keep it alive until the build returns)")
        spec = dict(network._spec)
        severity = T().ILogger.Severity
        self._logger.log(severity.INFO, "[fake] building")
        dynamic = [i for i in spec["inputs"] if any(d < 0 for d in i["shape"])]
        profiles = [p._shapes for p in config._profiles]
        for inp in dynamic:
            if not profiles or any(inp["name"] not in p for p in profiles):
                self._logger.log(severity.ERROR, f"input {inp['name']} has dynamic shape but no profile")
                return None
        monitor = getattr(config, "_p_progress_monitor", None)
        if monitor is not None:
            monitor.phase_start("Building engine", None, 2)
            if monitor.step_complete("Building engine", 0) is not True:
                return None
            monitor.phase_finish("Building engine")
        calib = getattr(config, "_p_int8_calibrator", None)
        if calib is not None and "INT8" in config._flags:
            cache = calib.read_calibration_cache()
            if not isinstance(cache, (bytes, bytearray)) or not cache:
                _refuse(w, "calibrator returned no calibration cache")
            if int(calib.get_batch_size()) < 1:
                _refuse(w, "calibrator batch size must be >= 1")
        spec.update(profiles=[{n: [list(s) for s in r] for n, r in p.items()} for p in profiles],
                    flags=sorted(config._flags),
                    dla_core=getattr(config, "_p_DLA_core", None),
                    hardware=getattr(getattr(config, "_p_hardware_compatibility_level", None), "name", None))
        return T().cls("IHostMemory")._make(_data=b"FAKE-ENGINE" + json.dumps(spec).encode())

    @on("IHostMemory", "nbytes", "get")
    def _(self):
        return len(self._data)

    # ---- runtime ---------------------------------------------------------------------------------------------------
    @on("Runtime", "__init__")
    def _(self, logger, **_):
        self._logger = logger

    @on("Runtime", "deserialize_cuda_engine")
    def _(self, serialized_engine=None, stream_reader=None, **_):
        data = bytes(serialized_engine._data if hasattr(serialized_engine, "_data") else serialized_engine)
        if not data.startswith(b"FAKE-ENGINE"):
            w.error("deserialize: not an engine")
            return None
        spec = json.loads(data[len(b"FAKE-ENGINE"):])
        if spec["plugins"] and not w.plugins_initialised:
            w.error(f"deserialize: plugin creator {spec['plugins'][0]} not found (init_libnvinfer_plugins not called)")
            return None
        if "VERSION_COMPATIBLE" in spec["flags"] and not getattr(self, "_p_engine_host_code_allowed", False):
            w.error("deserialize: version-compatible engine needs engine_host_code_allowed = True")
            return None
        spec["runtime_dla_core"] = getattr(self, "_p_DLA_core", None)
        return T().cls("ICudaEngine")._make(_spec=spec)

    def _io(engine):
        s = engine._spec
        return [(i, True) for i in s["inputs"]] + [(o, False) for o in s["outputs"]]

    @on("ICudaEngine", "num_io_tensors", "get")
    def _(self):
        return len(_io(self))

    @on("ICudaEngine", "num_optimization_profiles", "get")
    def _(self):
        return max(1, len(self._spec["profiles"]))

    @on("ICudaEngine", "num_layers", "get")
    def _(self):
        return len(self._spec["layers"])

    @on("ICudaEngine", "get_tensor_name")
    def _(self, index, **_):
        return _io(self)[index][0]["name"]

    def _find(engine, name):
        for t, is_input in _io(engine):
            if t["name"] == name:
                return t, is_input
        _refuse(w, f"engine has no I/O tensor {name!r}")

    @on("ICudaEngine", "get_tensor_mode")
    def _(self, name, **_):
        return T().TensorIOMode.INPUT if _find(self, name)[1] else T().TensorIOMode.OUTPUT

    @on("ICudaEngine", "get_tensor_shape")
    def _(self, name, **_):
        from .strict import Dims

        return Dims(_find(self, name)[0]["shape"])

    @on("ICudaEngine", "get_tensor_dtype")
    def _(self, name, **_):
        kind = {"float32": "FLOAT", "float16": "HALF", "int8": "INT8", "int32": "INT32", "int64": "INT64",
                "bool": "BOOL", "uint8": "UINT8"}[_find(self, name)[0].get("dtype", "float32")]
        if not hasattr(T().DataType, kind):
            _refuse(w, f"TensorRT {T().__version__} has no DataType.{kind} for tensor {name!r}")
        return getattr(T().DataType, kind)

    @on("ICudaEngine", "get_tensor_profile_shape")
    def _(self, name, profile_index, **_):
        from .strict import Dims

        return [Dims(s) for s in self._spec["profiles"][profile_index][name]]

    @on("ICudaEngine", "create_execution_context")
    def _(self, *a, **_):
        w.contexts_alive += 1
        ctx = T().cls("IExecutionContext")._make(_engine=self, _profile=0, _shapes={}, _addr={}, _alloc={},
                                                 _last=None)
        weakref.finalize(ctx, _dec_contexts, w)
        return ctx

    @on("ICudaEngine", "create_engine_inspector")
    def _(self, **_):
        return T().cls("EngineInspector")._make(_engine=self)

    @on("EngineInspector", "get_engine_information")
    def _(self, format, **_):
        spec = self._engine._spec
        prec = "Int8" if "INT8" in spec["flags"] else "Half" if "FP16" in spec["flags"] else "Float"
        layers = [{"Name": l["name"], "LayerType": l["op"],
                   "Outputs": [{"Name": o, "Format/Datatype": prec} for o in l["outputs"]],
                   "TacticName": f"fake_{l['op'].lower()}_kernel"} for l in spec["layers"]]
        return json.dumps({"Layers": layers, "Bindings": [t["name"] for t, _ in _io(self._engine)]})

    @on("EngineInspector", "get_layer_information")
    def _(self, layer_index, format, **_):
        return json.dumps(json.loads(self.get_engine_information(format))["Layers"][layer_index])

    @on("IExecutionContext", "set_optimization_profile_async")
    def _(self, profile_index, stream_handle, **_):
        if not 0 <= profile_index < max(1, len(self._engine._spec["profiles"])):
            return False
        self._profile, self._shapes = profile_index, {}
        return True

    @on("IExecutionContext", "set_input_shape")
    def _(self, name, shape, **_):
        t, is_input = _find(self._engine, name)
        shape = tuple(int(d) for d in shape)
        profiles = self._engine._spec["profiles"]
        if not is_input or len(shape) != len(t["shape"]):
            return False
        if profiles:
            lo, _, hi = profiles[self._profile][name]
            if not all(a <= s <= b for a, s, b in zip(lo, shape, hi)):
                w.error(f"set_input_shape {name} {shape} outside profile {self._profile}")
                return False
        self._shapes[name] = shape
        return True

    def _out_shapes(ctx):
        spec = ctx._engine._spec
        if spec["data_dependent"]:
            return None
        feeds = {i["name"]: np.zeros(ctx._shapes.get(i["name"], i["shape"]), i.get("dtype", "float32"))
                 for i in spec["inputs"]}
        return {n: a.shape for n, a in run_onnx(spec["onnx"], feeds).items()}

    @on("IExecutionContext", "get_tensor_shape")
    def _(self, name, **_):
        from .strict import Dims

        t, is_input = _find(self._engine, name)
        if is_input:
            return Dims(self._shapes.get(name, t["shape"]))
        missing = [i for i in self._engine._spec["inputs"] if any(d < 0 for d in i["shape"])
                   and i["name"] not in self._shapes]
        shapes = None if missing else _out_shapes(self)
        return Dims(shapes[name] if shapes else [d if d >= 0 else -1 for d in t["shape"]])

    @on("IExecutionContext", "set_tensor_address")
    def _(self, name, memory, **_):
        _find(self._engine, name)
        self._addr[name] = int(memory)
        return True

    @on("IExecutionContext", "set_output_allocator")
    def _(self, name, output_allocator, **_):
        self._alloc[name] = output_allocator
        return True

    @on("IExecutionContext", "execute_async_v3")
    def _(self, stream_handle, **_):
        spec = self._engine._spec
        for i in spec["inputs"]:
            if any(d < 0 for d in i["shape"]) and i["name"] not in self._shapes:
                w.error(f"execute_async_v3: input {i['name']} has no shape (set_input_shape)")
                return False
        for t, is_input in _io(self._engine):
            if t["name"] not in self._addr and not (not is_input and t["name"] in self._alloc):
                w.error(f"execute_async_v3: tensor {t['name']} has no address (set_tensor_address)")
                return False
        stream = w.streams[int(stream_handle)]
        if self._last is not None:
            prev, seq = self._last
            if prev is not stream and prev.done < seq and stream.deps.get(prev.handle, -1) < seq:
                _refuse(w, f"execution context enqueued on stream {stream.handle:#x} while its work on stream "
                           f"{prev.handle:#x} may still run (no event edge between the streams)")
        feeds = {}
        for i in spec["inputs"]:
            shape = self._shapes.get(i["name"], tuple(i["shape"]))
            dt = np.dtype(i.get("dtype", "float32"))
            n = int(np.prod(shape)) * dt.itemsize
            feeds[i["name"]] = w.view(self._addr[i["name"]], n).view(dt).reshape(shape).copy()
        outs = run_onnx(spec["onnx"], feeds)
        for o in spec["outputs"]:
            arr = np.ascontiguousarray(outs[o["name"]]).astype(o.get("dtype", "float32"))
            if o["name"] in self._alloc:
                alloc = self._alloc[o["name"]]
                old = self._addr.get(o["name"], 0)
                if hasattr(alloc, "reallocate_output_async"):
                    addr = alloc.reallocate_output_async(o["name"], old, arr.nbytes, 256, stream.handle)
                else:
                    addr = alloc.reallocate_output(o["name"], old, arr.nbytes, 256)
                from .strict import Dims

                alloc.notify_shape(o["name"], Dims(arr.shape))
                w.view(int(addr), arr.nbytes)[:] = arr.view(np.uint8).reshape(-1)
            else:
                w.view(self._addr[o["name"]], arr.nbytes)[:] = arr.view(np.uint8).reshape(-1)
        stream.seq += 1
        self._last = (stream, stream.seq)
        return True

    return h


def _dec_contexts(w: World) -> None:
    w.contexts_alive -= 1


# ---- fake pycuda.driver ---------------------------------------------------------------------------------------------
class Stream:
    def __init__(self, world: World, handle: int):
        self.world, self.handle, self.seq, self.done, self.deps = world, handle, 0, 0, {}


def make_pycuda(world: World) -> types.ModuleType:
    """A ``pycuda.driver`` stand-in over ``world``'s memory (the calls jetsonkit.runtime.cuda_stream makes)."""
    drv = types.ModuleType("pycuda.driver")
    handles = itertools.count(0x5000, 0x10)

    class _Stream:
        def __init__(self, flags=0):
            self.handle = next(handles)
            self._s = world.streams[self.handle] = Stream(world, self.handle)

        def synchronize(self):
            self._s.done = self._s.seq

        def wait_for_event(self, event):
            if event._at is not None:
                src, seq, deps = event._at
                for k, v in {**deps, src.handle: seq}.items():
                    self._s.deps[k] = max(self._s.deps.get(k, -1), v)

    class _Event:
        def __init__(self, flags=0):
            self._at = None

        def record(self, stream=None):
            s = stream._s
            s.seq += 1
            self._at = (s, s.seq, dict(s.deps))
            return self

        def query(self):
            self.synchronize()
            return True

        def synchronize(self):
            if self._at:
                s, seq, _ = self._at
                s.done = max(s.done, seq)
            return self

        def time_till(self, other):
            return 0.01

    class _Alloc:
        def __init__(self, nbytes):
            self.ptr = world.alloc(nbytes)

        def __int__(self):
            return self.ptr

        def free(self):
            world.free(self.ptr)

    class _HostBase:
        """pycuda's HostAllocation: the array's ``.base``, with get_device_pointer() when mapped."""

        def __init__(self, arr, mapped):
            self.arr, self.__array_interface__ = arr, arr.__array_interface__
            self.ptr = world.alloc(arr.nbytes, arr.view(np.uint8).reshape(-1)) if mapped else None

        def get_device_pointer(self):
            return self.ptr

        def free(self):
            if self.ptr is not None:
                world.free(self.ptr)
            world.freed.append(id(self))

    def pagelocked_empty(shape, dtype, order="C", mem_flags=0):
        return np.asarray(_HostBase(np.zeros(shape, dtype), bool(mem_flags)))

    class _Context:
        stack: list = []

        def __init__(self, primary=True):
            self.primary = primary
            self.handle = next(handles)
            self.detached = False

        def push(self):
            _Context.stack.append(self)

        @staticmethod
        def pop():
            _Context.stack.pop()

        def detach(self):
            self.detached = True
            world.primary_retained -= 1

    class _Device:
        def __init__(self, index):
            self.index = index

        @staticmethod
        def count():
            return 1

        def name(self):
            return world.gpu

        def compute_capability(self):
            return world.cc

        def get_attribute(self, attr):
            return {"INTEGRATED": world.integrated, "CAN_MAP_HOST_MEMORY": True}[attr]

        def retain_primary_context(self):
            world.primary_retained += 1
            return _Context()

    def memcpy_htod_async(dest, src, stream=None):
        src = np.ascontiguousarray(src).view(np.uint8).reshape(-1)
        world.view(int(dest), src.nbytes)[:] = src
        if stream is not None:
            stream._s.seq += 1

    def memcpy_dtoh_async(dest, src, stream=None):
        flat = dest.view(np.uint8).reshape(-1)
        flat[:] = world.view(int(src), flat.nbytes)
        if stream is not None:
            stream._s.seq += 1

    drv.init = lambda: None
    drv.Device, drv.Stream, drv.Event, drv.Context = _Device, _Stream, _Event, _Context
    drv.mem_alloc = _Alloc
    drv.pagelocked_empty = pagelocked_empty
    drv.memcpy_htod_async, drv.memcpy_dtoh_async = memcpy_htod_async, memcpy_dtoh_async
    drv.memcpy_dtoh = lambda dest, src: memcpy_dtoh_async(dest, src)
    drv.device_attribute = types.SimpleNamespace(INTEGRATED="INTEGRATED", CAN_MAP_HOST_MEMORY="CAN_MAP_HOST_MEMORY")
    drv.host_alloc_flags = types.SimpleNamespace(DEVICEMAP=2)
    return drv
