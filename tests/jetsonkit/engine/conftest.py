"""Make the test support packages importable: trt_fake (tests/) and the build tests' helpers."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
