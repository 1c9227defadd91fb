"""The robot example's non-ROS loop on CPU: a short synthetic video through infer_frame_async + done callbacks."""

from __future__ import annotations

import numpy as np
import pytest

from jetsonkit.errors import MissingDependencyError
from jetsonkit.examples import robot_node
from jetsonkit.runtime import Runtime

from .test_frame import small_net

pytest.importorskip("onnxruntime")


def test_loop_publishes_every_frame_in_order_with_the_sequential_results(tmp_path):
    model = small_net(tmp_path / "net.onnx")
    frames = list(robot_node.synthetic_frames(12, 48, 64))
    np.save(tmp_path / "clip.npy", np.stack(frames))
    published = []
    with robot_node.PerceptionLoop(str(model), lambda seq, out, geo: published.append((seq, out, geo)),
                                   max_in_flight=3) as loop:
        stats = loop.run(robot_node.video_frames(str(tmp_path / "clip.npy")))
    assert stats.frames == stats.published == 12 and stats.dropped == 0
    assert [seq for seq, _, _ in published] == list(range(12))
    with Runtime.open(model, preprocess="auto") as rt:
        for (seq, out, geo), frame in zip(published, frames):
            want, want_geo = rt.infer_frame(frame)
            np.testing.assert_array_equal(out["y"], want["y"])
            assert geo == want_geo and geo.dst == (0, 2, 16, 12)  # 64x48 letterboxed into 16x16
    assert not np.array_equal(published[0][1]["y"], published[5][1]["y"])  # the square moved


def test_ros_mode_needs_rclpy_and_says_so(tmp_path):
    pytest.importorskip("onnx")
    try:
        import rclpy  # noqa: F401
        pytest.skip("rclpy is installed here")
    except ImportError:
        pass
    with pytest.raises(MissingDependencyError, match="rclpy"):
        robot_node.ros_node(str(small_net(tmp_path / "net.onnx")))


def test_main_runs_the_synthetic_loop(tmp_path):
    assert robot_node.main([str(small_net(tmp_path / "net.onnx")), "--synthetic", "5"]) == 0
