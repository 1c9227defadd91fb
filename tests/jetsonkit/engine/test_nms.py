"""The EfficientNMS_TRT graph rewrite (jetsonkit.engine.nms) on small ONNX graphs: attributes, outputs, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from jetsonkit.errors import ConfigError


def _graph(path, *, consumed=False, const_iou=True):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.array([5], np.int64), "max"),
             numpy_helper.from_array(np.array([0.25], np.float32), "score")]
    inputs = [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["b", 64, 4]),
              helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["b", 3, 64])]
    if const_iou:
        inits.append(numpy_helper.from_array(np.array([0.6], np.float32), "iou"))
    else:
        inputs.append(helper.make_tensor_value_info("iou", TensorProto.FLOAT, [1]))
    nodes = [helper.make_node("NonMaxSuppression", ["boxes", "scores", "max", "iou", "score"], ["sel"],
                              center_point_box=1, name="nms")]
    out = "sel"
    if consumed:
        nodes.append(helper.make_node("Identity", ["sel"], ["sel2"]))
        out = "sel2"
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info(out, TensorProto.INT64, ["k", 3])],
                              inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_rewrite_sets_the_plugin_attributes_and_outputs(tmp_path):
    import onnx

    from jetsonkit.engine.nms import PLUGIN_OUTPUTS, to_efficient_nms

    attrs = to_efficient_nms(_graph(tmp_path / "g.onnx"), tmp_path / "e.onnx")["nms"]
    assert attrs == {"plugin_version": "1", "background_class": -1, "score_activation": 0, "class_agnostic": 0,
                     "box_coding": 1, "max_output_boxes": 5, "iou_threshold": pytest.approx(0.6),
                     "score_threshold": 0.25}
    g = onnx.load(tmp_path / "e.onnx").graph
    assert [n.op_type for n in g.node] == ["Transpose", "EfficientNMS_TRT"]
    assert list(g.node[0].attribute[0].ints) == [0, 2, 1] and list(g.node[1].input) == ["boxes", g.node[0].output[0]]
    assert tuple(o.name for o in g.output) == PLUGIN_OUTPUTS
    assert [d.dim_value for d in g.output[1].type.tensor_type.shape.dim][1:] == [5, 4]


@pytest.mark.parametrize("kind,match", [({"consumed": True}, "feeds other nodes"),
                                        ({"const_iou": False}, "iou_threshold .* is not a constant")])
def test_rewrite_refuses_what_the_plugin_cannot_express(tmp_path, kind, match):
    from jetsonkit.engine.nms import to_efficient_nms

    with pytest.raises(ConfigError, match=match):
        to_efficient_nms(_graph(tmp_path / "g.onnx", **kind), tmp_path / "e.onnx")
    assert not (tmp_path / "e.onnx").exists()


def test_spec_has_no_nms_setting_without_the_op(mnist_onnx):
    from jetsonkit.engine.engine import build_spec_for
    from jetsonkit.engine.options import BuildSettings, parse_profiles

    settings = BuildSettings(profiles=parse_profiles(["input:1x1x28x28,1x1x28x28,1x1x28x28"]))
    assert build_spec_for(mnist_onnx, settings, "8.6").nms is None


def test_efficient_nms_outputs_to_detections():
    from jetsonkit.detect.onnx_nms import detections_from_efficient_nms
    from jetsonkit.errors import DataError

    boxes = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    scores, classes = np.array([[0.9, 0.5, 0], [0.7, 0, 0]], np.float32), np.array([[1, 2, 0], [4, 0, 0]], np.int32)
    a, b = detections_from_efficient_nms(np.array([[2], [1]]), boxes, scores, classes)
    assert len(a) == 2 and len(b) == 1 and a.labels.tolist() == [1, 2] and b.boxes.tolist() == [[12, 13, 14, 15]]
    with pytest.raises(DataError, match="do not fit together"):
        detections_from_efficient_nms(np.array([[4], [1]]), boxes, scores, classes)
