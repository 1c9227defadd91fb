"""NMS in a TensorRT engine: the built-in ``INMSLayer`` or the ``EfficientNMS_TRT`` plugin, chosen per version.

A graph with the ONNX ``NonMaxSuppression`` op (``jetsonkit.detect.onnx_nms.add_nms_tail``) can run NMS two ways:

- ``inms``: the ONNX parser turns the op into TensorRT's ``INMSLayer`` (``INetworkDefinition.add_nms`` exists in
  every binding dump we hold, 8.6 to 11.4). Same semantics as ONNX Runtime (per-class cap, rows ordered by class
  then score), but ``selected_indices`` ``[K, 3]`` has a data-dependent shape, which jetsonkit reads through an
  ``IOutputAllocator``: the Python bindings have one from 10.0 (absent from the 8.6 dump).
- ``efficient-nms``: the NonMaxSuppression node is replaced, before parsing, by NVIDIA's ``EfficientNMS_TRT`` plugin
  (TensorRT OSS ``plugin/efficientNMSPlugin/README.md``): inputs boxes ``[B, A, 4]`` and scores ``[B, A, C]``
  (a Transpose of ONNX's ``[B, C, A]``), attributes ``score_threshold``, ``iou_threshold``, ``max_output_boxes``
  (per image), ``background_class`` (-1: none), ``score_activation`` (0: scores already through a sigmoid),
  ``class_agnostic`` (0), ``box_coding`` (ONNX ``center_point_box``: 0 corners, 1 centre + size) and
  ``plugin_version`` "1", as NVIDIA's samples/python/detectron2/create_onnx.py writes the node. Outputs are static:
  ``num_detections`` ``[B, 1]`` int32, ``detection_boxes`` ``[B, max, 4]`` (corners), ``detection_scores``
  ``[B, max]``, ``detection_classes`` ``[B, max]`` int32 -- no output allocator needed. Differences from the
  ONNX op, from the plugin's README and kernel (efficientNMSInference.cu): the cap is per image, not per class;
  only the 4,096 best candidates enter NMS; a score equal to the threshold is kept and an IoU equal to the
  threshold suppresses (ONNX: strictly greater for both). Version 1 of the plugin is deprecated from TensorRT
  10.12 (OSS CHANGELOG 10.12.0).

``auto`` (the default) takes ``inms`` where jetsonkit's runtime can read its output (TensorRT >= 10) and
``efficient-nms`` on 8.x, and records the choice and its reason in the build spec (hence in ``--dry-run``'s text and the sidecar).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._deps import require
from ..errors import ConfigError, UnsupportedError
from .onnx_info import OnnxInfo
from .versions import TrtVersion

NMS_CHOICES = ("auto", "inms", "efficient-nms")
PLUGIN = "EfficientNMS_TRT"
PLUGIN_OUTPUTS = ("num_detections", "detection_boxes", "detection_scores", "detection_classes")
PLUGIN_MAX_CANDIDATES = 4096  # the plugin's NMS kernel takes the 4,096 best scores (README, "Process Description")


def choose_nms(info: OnnxInfo, requested: str, v: TrtVersion) -> dict | None:
    """The NMS implementation for a build on ``v`` (None when the graph has no NonMaxSuppression); ``requested``
    is one of :data:`NMS_CHOICES` (BuildOptions checks it)."""
    nodes = [name for name, op in info.node_ops.items() if op == "NonMaxSuppression"]
    if not nodes:
        return None
    if requested == "inms" and not v.has_output_allocator:
        raise UnsupportedError(f"INMSLayer's selected indices have a data-dependent shape, which jetsonkit reads "
                               f"with an IOutputAllocator from TensorRT 10 on, not {v.short}",
                               hint="build with --nms efficient-nms (static outputs) or with TensorRT 10+")
    layer = "INMSLayer" if requested == "inms" or (requested == "auto" and v.has_output_allocator) else PLUGIN
    if layer == "INMSLayer":
        reason = ("TensorRT's built-in NMS layer from the ONNX NonMaxSuppression op: ONNX semantics (per-class cap, "
                  "same rows as ONNX Runtime); its data-dependent [K, 3] output is read with an IOutputAllocator")
    else:
        reason = ("EfficientNMS_TRT plugin: static outputs (count, boxes, scores, classes padded to the cap) that "
                  "TensorRT 8.x's Python bindings can read without an IOutputAllocator; cap per image, "
                  f"{PLUGIN_MAX_CANDIDATES} best candidates")
        if v.efficient_nms_deprecated:
            reason += "; deprecated since TensorRT 10.12 (INMSLayer is the lasting path)"
    return {"layer": layer, "requested": requested, "nodes": nodes, "reason": reason}


def _const(graph, name: str, node_name: str, what: str, default):
    if not name:
        return default
    onnx = require("onnx", purpose="rewriting NonMaxSuppression for TensorRT")
    for init in graph.initializer:
        if init.name == name:
            return np.asarray(onnx.numpy_helper.to_array(init)).reshape(-1)[0]
    for n in graph.node:
        if n.op_type == "Constant" and n.output[0] == name:
            return np.asarray(onnx.numpy_helper.to_array(n.attribute[0].t)).reshape(-1)[0]
    raise ConfigError(f"NonMaxSuppression node {node_name!r}: {what} ({name!r}) is not a constant",
                      hint="EfficientNMS_TRT takes its thresholds as attributes: export them as constants, or build "
                           "with --nms inms on TensorRT 10+")


def to_efficient_nms(onnx_path: str | os.PathLike, out_path: str | os.PathLike) -> dict:
    """Write ``onnx_path`` with every NonMaxSuppression node replaced by Transpose + ``EfficientNMS_TRT`` to
    ``out_path``; the node's ``selected_indices`` graph output becomes the plugin's four outputs (suffixed when
    there are several nodes). Returns {node: plugin attributes}."""
    onnx = require("onnx", purpose="rewriting NonMaxSuppression for TensorRT")
    helper = onnx.helper
    model = onnx.load(os.fspath(onnx_path))
    g = model.graph
    outputs = {o.name for o in g.output}
    nms_nodes = [n for n in g.node if n.op_type == "NonMaxSuppression"]
    consumed = {i for n in g.node for i in n.input}
    done: dict[str, dict] = {}
    for k, node in enumerate(nms_nodes):
        name = node.name or f"NonMaxSuppression_{k}"
        if node.output[0] not in outputs or node.output[0] in consumed:
            raise ConfigError(f"NonMaxSuppression node {name!r}: its output feeds other nodes; EfficientNMS_TRT "
                              "returns boxes, scores and classes instead of indices, so only an NMS at the end of "
                              "the graph can be replaced", hint="build with --nms inms on TensorRT 10+")
        ins = list(node.input) + [""] * (5 - len(node.input))
        center = next((int(a.i) for a in node.attribute if a.name == "center_point_box"), 0)
        attrs = {"plugin_version": "1", "background_class": -1, "score_activation": 0, "class_agnostic": 0,
                 "box_coding": center,
                 "max_output_boxes": int(_const(g, ins[2], name, "max_output_boxes_per_class", 0)),
                 "iou_threshold": float(_const(g, ins[3], name, "iou_threshold", 0.0)),
                 "score_threshold": float(_const(g, ins[4], name, "score_threshold", 0.0))}
        suffix = "" if len(nms_nodes) == 1 else f"_{k}"
        scores_t = f"{name}/scores_bac"
        plugin_outs = [o + suffix for o in PLUGIN_OUTPUTS]
        at = list(g.node).index(node)
        g.node.remove(node)
        g.node.insert(at, helper.make_node("Transpose", [ins[1]], [scores_t], perm=[0, 2, 1],
                                           name=f"{name}/scores_transpose"))
        g.node.insert(at + 1, helper.make_node(PLUGIN, [ins[0], scores_t], plugin_outs,
                                               name=f"{name}/{PLUGIN}", **attrs))
        old = next(o for o in g.output if o.name == node.output[0])
        pos = list(g.output).index(old)
        g.output.remove(old)
        cap, tp = attrs["max_output_boxes"], onnx.TensorProto
        new = [helper.make_tensor_value_info(plugin_outs[0], tp.INT32, ["batch", 1]),
               helper.make_tensor_value_info(plugin_outs[1], tp.FLOAT, ["batch", cap, 4]),
               helper.make_tensor_value_info(plugin_outs[2], tp.FLOAT, ["batch", cap]),
               helper.make_tensor_value_info(plugin_outs[3], tp.INT32, ["batch", cap])]
        for j, vi in enumerate(new):
            g.output.insert(pos + j, vi)
        done[name] = attrs
    onnx.save(model, os.fspath(out_path))
    return done


def prepare_nms(onnx_path: str, choice: dict | None, workdir: str | os.PathLike) -> str:
    """The graph TensorRT parses for this NMS choice: ``onnx_path`` itself, or its EfficientNMS_TRT rewrite."""
    if not choice or choice["layer"] != PLUGIN:
        return onnx_path
    out = Path(workdir) / (Path(onnx_path).stem + ".efficientnms.onnx")
    to_efficient_nms(onnx_path, out)
    return str(out)
