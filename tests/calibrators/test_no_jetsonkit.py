"""calibrators imports with numpy alone: no jetsonkit, torch, onnx or onnxruntime."""

import subprocess
import sys


def test_import_pulls_in_nothing_heavy():
    code = ("import sys, calibrators; bad = [m for m in ('jetsonkit', 'torch', 'onnx', 'onnxruntime', 'tensorrt') "
            "if m in sys.modules]; print(bad); assert not bad")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
