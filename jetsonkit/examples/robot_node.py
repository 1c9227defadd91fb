"""A robot's perception loop: camera frame in, result out, on any backend (an example to copy from).

Two ways to run the same :class:`PerceptionLoop`:

* without ROS: frames from a video file (OpenCV, if installed), a ``.npy`` stack of HxWx3 uint8 frames, or a
  synthetic moving-square source::

      python -m jetsonkit.examples.robot_node model.onnx --synthetic 100
      python -m jetsonkit.examples.robot_node model.tflite --video clip.mp4

* as a ROS 2 node (``--ros``; ``rclpy``, ``sensor_msgs`` and ``std_msgs`` imported only then): subscribes to a
  ``sensor_msgs/Image`` topic (bgr8 / rgb8) and publishes each result as ``std_msgs/Float32MultiArray``.

The loop opens the model with ``Runtime.open(model, preprocess=...)`` (``"auto"``: the spec stored with the
artifact), starts each frame with ``infer_frame_async`` and publishes from a done callback, so the capture thread
never waits for inference; at most ``max_in_flight`` frames are queued, and a newer frame replaces nothing: with
``drop_when_busy`` a frame that arrives while the queue is full is dropped (a live camera), otherwise the capture
waits (a file, where every frame counts).
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np

log = logging.getLogger(__name__)


def synthetic_frames(count: int, height: int = 120, width: int = 160, seed: int = 0) -> Iterator[np.ndarray]:
    """``count`` BGR frames: a textured background and a bright square moving left to right."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 80, (height, width, 3), dtype=np.uint8)
    side = max(2, min(height, width) // 4)
    for i in range(count):
        frame = background.copy()
        x = (i * 7) % max(1, width - side)
        frame[height // 3:height // 3 + side, x:x + side] = (40, 200, 250)
        yield frame


def video_frames(path: str) -> Iterator[np.ndarray]:
    """Frames of a ``.npy`` stack ``[N, H, W, 3]`` uint8, or of a video file through OpenCV (BGR)."""
    if str(path).endswith(".npy"):
        yield from np.load(path, mmap_mode="r")
        return
    from .._deps import require

    cv2 = require("cv2", purpose="reading video files in the robot example")
    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()


@dataclass
class LoopStats:
    frames: int = 0
    published: int = 0
    dropped: int = 0
    latencies_ms: list[float] = field(default_factory=list)


class PerceptionLoop:
    """Frames -> ``infer_frame_async`` -> ``publish(seq, outputs, geometry)`` from the done callback."""

    def __init__(self, model: str, publish: Callable[[int, dict, Any], None], *, preprocess: Any = "auto",
                 frame_format: str = "bgr", max_in_flight: int = 2, drop_when_busy: bool = False, **options: Any):
        from ..runtime import Runtime

        self.runtime = Runtime.open(model, preprocess=preprocess, frame_format=frame_format, **options)
        self.publish = publish
        self.drop_when_busy = drop_when_busy
        self.stats = LoopStats()
        self._slots = threading.BoundedSemaphore(max(1, int(max_in_flight)))
        self._idle = threading.Condition()
        self._pending = 0

    def submit(self, seq: int, frame: np.ndarray) -> bool:
        """Start one frame; False when it was dropped (queue full and ``drop_when_busy``)."""
        self.stats.frames += 1
        if not self._slots.acquire(blocking=not self.drop_when_busy):
            self.stats.dropped += 1
            return False
        with self._idle:
            self._pending += 1
        start = time.perf_counter()
        try:
            handle = self.runtime.infer_frame_async(frame)
        except BaseException:
            self._finished()
            raise
        handle.add_done_callback(lambda h: self._done(seq, h, start))
        return True

    def _done(self, seq: int, handle: Any, start: float) -> None:
        try:
            outputs = handle.wait()
            self.stats.latencies_ms.append((time.perf_counter() - start) * 1e3)
            self.publish(seq, outputs, handle.geometry)
            self.stats.published += 1
        except Exception:  # noqa: BLE001 - one bad frame must not stop a robot's loop
            log.exception("frame %d failed", seq)
        finally:
            self._finished()

    def _finished(self) -> None:
        self._slots.release()
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def run(self, frames: Iterable[np.ndarray]) -> LoopStats:
        """Feed every frame, then wait until the last result is published."""
        for seq, frame in enumerate(frames):
            self.submit(seq, np.ascontiguousarray(frame))
        self.drain()
        return self.stats

    def drain(self, timeout: float | None = None) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        self.drain()
        self.runtime.close()

    def __enter__(self) -> "PerceptionLoop":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ros_node(model: str, image_topic: str = "image", result_topic: str = "perception", **loop_options: Any):
    """A ROS 2 node running :class:`PerceptionLoop` on a ``sensor_msgs/Image`` topic (rclpy imported here)."""
    from .._deps import require

    rclpy_node = require("rclpy.node", purpose="the ROS 2 robot node")
    image_msg = require("sensor_msgs.msg", purpose="the ROS 2 robot node").Image
    array_msg = require("std_msgs.msg", purpose="the ROS 2 robot node").Float32MultiArray

    class PerceptionNode(rclpy_node.Node):
        def __init__(self):
            super().__init__("jetsonkit_perception")
            self.pub = self.create_publisher(array_msg, result_topic, 10)
            self.loop = PerceptionLoop(model, self._publish, drop_when_busy=True, **loop_options)
            self.create_subscription(image_msg, image_topic, self._on_image, 10)
            self.seq = 0

        def _on_image(self, msg):
            pixels = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, :msg.width * 3]
            frame = pixels.reshape(msg.height, msg.width, 3)
            self.loop.submit(self.seq, frame if msg.encoding == "bgr8" else np.ascontiguousarray(frame[..., ::-1]))
            self.seq += 1

        def _publish(self, seq, outputs, geometry):
            first = next(iter(outputs.values()))
            self.pub.publish(array_msg(data=np.asarray(first, np.float32).ravel().tolist()))

    return PerceptionNode()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="camera / video loop (or ROS 2 node) over jetsonkit's Runtime")
    ap.add_argument("model")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", help="a video file (OpenCV) or a .npy stack of HxWx3 uint8 BGR frames")
    src.add_argument("--synthetic", type=int, metavar="N", help="N synthetic frames")
    src.add_argument("--ros", action="store_true", help="run as a ROS 2 node (needs rclpy)")
    args = ap.parse_args(argv)
    if args.ros:
        rclpy = __import__("rclpy")
        rclpy.init()
        rclpy.spin(ros_node(args.model))
        return 0
    frames = video_frames(args.video) if args.video else synthetic_frames(args.synthetic)
    with PerceptionLoop(args.model, lambda seq, out, geo: None) as loop:
        stats = loop.run(frames)
    lat = np.asarray(stats.latencies_ms or [0.0])
    log.info("%d frames, %d published, %d dropped; latency median %.1f ms, p95 %.1f ms", stats.frames,
             stats.published, stats.dropped, float(np.median(lat)), float(np.percentile(lat, 95)))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    raise SystemExit(main())
