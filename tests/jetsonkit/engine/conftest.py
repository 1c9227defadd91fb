"""Make the build tests' helpers (trt_recorder) importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
