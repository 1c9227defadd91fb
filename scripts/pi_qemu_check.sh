#!/usr/bin/env bash
# Prove the Raspberry Pi (aarch64) path on an x86 machine: the Pi-only install (numpy + ai-edge-litert + jetsonkit,
# aarch64 wheels) runs the converted MNIST fp32 / fp16 / int8 .tflite models under qemu-user, emulating a
# Cortex-A72 (Pi 4) and a Cortex-A76 (Pi 5). Timings under emulation mean nothing; accuracy does.
#
# Usage: scripts/pi_qemu_check.sh [WORKDIR]      (root; needs apt for qemu-user-static + debootstrap, and PyPI)
# Needs the project venv (.venv, scripts/setup.sh) on the host to convert the models.
#
# Why the fake /proc/cpuinfo: ai-edge-litert reads /proc/cpuinfo at start-up and crashes (SIGSEGV) on the host's
# x86 one; qemu-user resolves paths inside the -L sysroot first, so ROOT/proc/cpuinfo is what the program sees. It
# must describe the emulated CPU: claiming asimddp on an emulated A72 gives SIGILL in the int8 kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=${1:-/tmp/jetsonkit-pi-qemu}
ROOT=$WORK/arm64root
PY=$REPO/.venv/bin/python
mkdir -p "$WORK"

if ! command -v qemu-aarch64-static >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static debootstrap
fi

if [ ! -x "$ROOT/usr/bin/python3.11" ]; then
  # --foreign only unpacks the base system (no arm64 code runs); the Python packages it fetched are unpacked here.
  debootstrap --foreign --arch=arm64 --variant=minbase --include=python3.11-minimal,libpython3.11-stdlib \
    bookworm "$ROOT" http://deb.debian.org/debian >"$WORK/debootstrap.log"
  for deb in "$ROOT"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$ROOT"; done
fi

if [ ! -d "$ROOT/opt/pi/ai_edge_litert" ]; then
  PIP=("$PY" -m pip install -q --disable-pip-version-check --target "$ROOT/opt/pi")
  "${PIP[@]}" --only-binary=:all: --implementation cp --python-version 3.11 --platform manylinux_2_28_aarch64 \
    --platform manylinux_2_27_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 \
    numpy "ai-edge-litert>=2.0"
fi
rm -rf "$ROOT/opt/pi/jetsonkit" "$ROOT/opt/pi/calibrators"
cp -r "$REPO/jetsonkit" "$REPO/calibrators" "$ROOT/opt/pi/"

"$PY" - "$ROOT/opt" <<'EOF'
import sys, tempfile
from pathlib import Path
import numpy as np, torch
from jetsonkit.convert import convert_tflite
from jetsonkit.examples import mnist
out = Path(sys.argv[1])
onnx_path = Path(tempfile.mkdtemp()) / "mnist.onnx"
torch.onnx.export(mnist.build_model(), (torch.zeros(1, 1, 28, 28),), str(onnx_path), input_names=["input"],
                  output_names=["logits"], opset_version=17, dynamo=False, dynamic_axes={"input": {0: "batch"}})
xc, _ = mnist.load_split("train", limit=1000)
for p in ("fp32", "fp16", "int8"):
    convert_tflite(onnx_path, out / f"mnist.{p}.tflite", precision=p, data=xc if p == "int8" else None)
x, y = mnist.load_split("test", limit=500)
np.savez(out / "mnist500.npz", x=x.transpose(0, 2, 3, 1), y=y)
EOF

cat >"$ROOT/opt/probe.py" <<'EOF'
import json, platform, sys
import numpy as np
from jetsonkit.runtime import Runtime
d = np.load("/opt/mnist500.npz")
with Runtime.open(sys.argv[1], threads=2) as rt:
    got = np.concatenate([list(rt.infer(d["x"][i:i + 1]).values())[0] for i in range(len(d["y"]))])
print(json.dumps({"machine": platform.machine(), "model": sys.argv[1].rsplit("/", 1)[-1],
                  "top1": round(float((got.argmax(1) == d["y"]).mean()), 4)}))
EOF

write_cpuinfo() {  # $1: a72 | a76
  local part feats model
  if [ "$1" = a72 ]; then part=0xd08; feats="fp asimd evtstrm crc32 cpuid"; model="Raspberry Pi 4 Model B"
  else part=0xd0b; feats="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
       model="Raspberry Pi 5 Model B"; fi
  mkdir -p "$ROOT/proc"
  : >"$ROOT/proc/cpuinfo"
  for i in 0 1 2 3; do
    printf 'processor\t: %s\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: %s\n\n' \
      "$i" "$feats" "$part" >>"$ROOT/proc/cpuinfo"
  done
  printf 'Model\t\t: %s\n' "$model" >>"$ROOT/proc/cpuinfo"
}

echo "host: $(uname -m); qemu: $(qemu-aarch64-static --version | head -1); sysroot: Debian bookworm arm64, Python 3.11"
fail=0
for cpu in a72 a76; do
  write_cpuinfo "$cpu"
  for p in fp32 fp16 int8; do
    line=$(PYTHONPATH=/opt/pi timeout 600 qemu-aarch64-static -cpu "cortex-$cpu" -L "$ROOT" \
      "$ROOT/usr/bin/python3.11" /opt/probe.py "/opt/mnist.$p.tflite" 2>"$WORK/qemu.err" | tail -1) || true
    echo "cortex-$cpu $p: ${line:-FAILED ($(tail -1 "$WORK/qemu.err"))}"
    "$PY" -c "import json,sys; sys.exit(0 if json.loads(sys.argv[1])['top1'] >= 0.98 else 1)" "${line:-null}" \
      2>/dev/null || fail=1
  done
done
[ "$fail" = 0 ] && echo "aarch64 check passed" || { echo "aarch64 check FAILED"; exit 1; }
