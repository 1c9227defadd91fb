"""PreprocessSpec: validation, dict / ONNX-metadata round trip, and the CPU implementation against the camera path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jetsonkit.errors import ConfigError
from jetsonkit.preprocess import Preprocess, PreprocessSpec
from jetsonkit.preprocess import metadata as pmeta
from jetsonkit.preprocess import reference as ref

RNG = np.random.default_rng(7)


def _frame(h: int, w: int) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("data,needle", [
    ({"resise": "letterbox"}, "key 'resise': unknown key (did you mean 'resize'?)"),
    ({"std": [0.2, 0.0, 0.2]}, "key 'std'"),
    ({"std": 0}, "has a zero"),
    ({"resize": "crop"}, "key 'resize': 'crop' is not one of stretch, letterbox, center_crop"),
    ({"pad": 300}, "key 'pad'"),
    ({"crop": 0}, "key 'crop'"),
    ({"mean": [0.1, 0.2]}, "key 'mean': has 2 values"),
    ({"size": "224"}, "key 'size'"),
    ({"scale": float("nan")}, "key 'scale'"),
    ({"color": "gray", "mean": [0.1, 0.2, 0.3]}, "key 'mean': a gray"),
    ({"dtype": "uint8", "mean": 0.5}, "key 'dtype'"),
    ({"layout": "CHW"}, "key 'layout'"),
])
def test_bad_values_name_the_key_on_one_line(data, needle):
    with pytest.raises(ConfigError) as err:
        PreprocessSpec.from_dict(data, where="recipe.yaml: preprocess")
    text = str(err.value)
    assert needle in text and text.startswith("recipe.yaml: preprocess key") and "\n" not in text


def test_constructor_validates_too():
    with pytest.raises(ConfigError, match="key 'std'"):
        PreprocessSpec(std=(1.0, 0.0, 1.0))


def test_dict_round_trip_is_json_and_normalises_spellings():
    spec = PreprocessSpec.from_dict({"size": "240x320", "resize": "letterbox", "pad": 0, "color": "BGR",
                                     "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                                     "layout": "nhwc", "dtype": "float16"})
    assert spec.size == (240, 320) and spec.color == "bgr" and spec.layout == "NHWC"
    back = PreprocessSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec
    assert PreprocessSpec.from_dict({}) == PreprocessSpec()
    assert pmeta.from_metadata({"other": 1}) is None
    assert pmeta.from_metadata(pmeta.to_metadata(spec)) == spec


def test_onnx_metadata_round_trip(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])])
    model = helper.make_model(graph)
    model.metadata_props.add(key="author", value="me")
    assert pmeta.from_onnx(model) is None
    spec = PreprocessSpec(size=(4, 4), resize="center_crop", crop=0.875, mean=0.5, std=0.25)
    pmeta.set_onnx(model, PreprocessSpec())
    pmeta.set_onnx(model, spec)  # replaces, keeps the other entries
    assert [p.key for p in model.metadata_props] == ["author", pmeta.ONNX_KEY]
    onnx.save(model, str(tmp_path / "m.onnx"))
    assert pmeta.from_onnx(tmp_path / "m.onnx") == spec
    model.metadata_props[1].value = json.dumps({"resize": "fit"})
    with pytest.raises(ConfigError, match="metadata 'jetsonkit.preprocess' key 'resize'"):
        pmeta.from_onnx(model)


@pytest.mark.parametrize("mode,runtime_mode", [("letterbox", "letterbox"), ("stretch", "resize")])
@pytest.mark.parametrize("color", ["rgb", "bgr"])
def test_apply_equals_the_runtime_frame_path_bit_for_bit(mode, runtime_mode, color):
    frame = _frame(37, 61)  # odd sizes: the letterbox border and the resize taps are not trivial
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    spec = PreprocessSpec(size=(24, 32), resize=mode, pad=114, color=color, mean=mean, std=std)
    runtime = Preprocess((24, 32), src_format="bgr", out_order=color, mode=runtime_mode, mean=mean, std=std,
                         pad=114, device="cpu")
    got = spec.apply(frame, "bgr")
    assert got.dtype == np.float32 and got.shape == (1, 3, 24, 32)
    assert got.tobytes() == runtime.reference(frame).tobytes()
    assert spec.apply(frame[..., ::-1].copy(), "rgb").tobytes() == got.tobytes()


def test_layout_dtype_and_gray():
    frame = _frame(30, 40)
    base = PreprocessSpec(size=(15, 20))
    nchw = base.apply(frame)
    nhwc = PreprocessSpec(size=(15, 20), layout="NHWC").apply(frame)
    assert nhwc.shape == (1, 15, 20, 3) and np.array_equal(nhwc, nchw.transpose(0, 2, 3, 1))
    half = PreprocessSpec(size=(15, 20), dtype="float16").apply(frame)
    assert half.dtype == np.float16 and np.array_equal(half, nchw.astype(np.float16))
    u8 = PreprocessSpec(size=(15, 20), dtype="uint8").apply(frame)
    assert u8.dtype == np.uint8 and np.array_equal(u8.astype(np.float32) * np.float32(1 / 255), nchw)
    # 2x downscale with half-pixel centres: each output pixel is the mean of a 2x2 block, rounded half up
    blocks = frame.reshape(15, 2, 20, 2, 3).astype(np.int32).sum((1, 3))
    assert np.array_equal(u8[0].transpose(1, 2, 0), ((blocks + 2) >> 2).astype(np.uint8))
    gray = PreprocessSpec(size=(30, 40), color="gray", dtype="uint8").apply(frame)
    pil = pytest.importorskip("PIL.Image")
    assert gray.shape == (1, 1, 30, 40)
    assert np.array_equal(gray[0, 0], np.asarray(pil.fromarray(frame).convert("L")))


def test_center_crop_window_and_geometry():
    frame = _frame(8, 12)
    spec = PreprocessSpec(size=(4, 4), resize="center_crop", dtype="uint8")
    geo = spec.geometry(12, 8)
    assert geo.src == (2, 0, 8, 8) and geo.dst == (0, 0, 4, 4)
    want = ref.resize_bilinear_u8(frame[:, 2:10], 4, 4)
    assert np.array_equal(spec.apply(frame)[0].transpose(1, 2, 0), want)
    assert PreprocessSpec(size=(224, 224), resize="center_crop", crop=0.875).geometry(320, 256).src == \
        (48, 16, 224, 224)
    assert geo.to_frame(4, 4) == (10.0, 8.0)


def test_letterbox_geometry_maps_boxes_back():
    spec = PreprocessSpec(size=(640, 640), resize="letterbox")
    geo = spec.geometry(1920, 1080)
    assert geo.dst == (0, 140, 640, 360)
    back = geo.boxes_to_frame(np.array([[0, 140, 640, 500], [320, 320, 700, 700]]))
    assert np.allclose(back, [[0, 0, 1920, 1080], [960, 540, 1920, 1080]])


def test_missing_size_is_a_config_error():
    with pytest.raises(ConfigError, match="no size"):
        PreprocessSpec().apply(_frame(4, 4))


def test_preprocess_step_is_a_spec_and_its_cpu_run_gives_the_reference_bytes():
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    pre = Preprocess((24, 32), src_format="bgr", out_order="bgr", mode="resize", mean=mean, std=std, pad=7,
                     dtype="float16", device="cpu")
    assert pre.spec == PreprocessSpec(size=(24, 32), resize="stretch", pad=7, color="bgr", mean=mean, std=std,
                                      dtype="float16")
    frame = _frame(37, 61)
    assert pre(frame).tobytes() == pre.reference(frame).tobytes()  # native C (where built) or numpy: same bytes
    nv12 = np.random.default_rng(5).integers(0, 256, (36, 40), dtype=np.uint8)
    for matrix in ("bt601", "bt709"):
        yuv = Preprocess((16, 16), src_format="nv12", yuv_matrix=matrix, device="cpu")
        want = ref.normalize_nchw(ref.place_in_box(ref.nv12_to_rgb(nv12, matrix), yuv.box(40, 24), 16, 16, 114),
                                  yuv.norm)
        assert yuv(nv12).tobytes() == want.tobytes()


def test_one_cpu_frame_step():
    """The numpy building blocks are composed into the frame step in one place, reference.to_tensor; everything else
    (PreprocessSpec.apply, Preprocess on the CPU, the runtime's frame feed, image folders) goes through it."""
    import ast
    from pathlib import Path

    import jetsonkit

    root = Path(jetsonkit.__file__).parent
    blocks = {"place_in_box", "normalize_nchw", "resize_bilinear_u8"}
    users = {str(p.relative_to(root)) for p in root.rglob("*.py")
             for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
             if (isinstance(n, ast.Name) and n.id in blocks) or (isinstance(n, ast.Attribute) and n.attr in blocks)}
    assert users == {"preprocess/reference.py"}
