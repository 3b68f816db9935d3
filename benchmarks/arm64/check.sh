#!/usr/bin/env bash
# ARM64 check: the torch-free edge install on Linux aarch64 under QEMU user-mode emulation, run
# against a bundle built on this x86 machine, compared frame by frame with the x86 result.
#
#   benchmarks/arm64/check.sh BUNDLE SEQUENCE [WORKDIR]
#
# Installs what it needs from the registries: Debian's qemu-user-static, an arm64 Python 3.11
# from Debian's packages unpacked into a private sysroot (dpkg -x; nothing arm64 is installed
# system-wide), and aarch64 wheels of the edge dependencies (pip download --platform ...
# --only-binary=:all:). Fails unless fp32 matches x86 within 1e-5 per frame and, when the bundle
# has an int8 encoder, int8 on aarch64 stays within the int8 bound (melt MAE 0.005 vs fp32).
# The x86 and aarch64 runs share one cache directory: the per-machine cache of optimised ONNX
# graphs must keep their entries apart (two machine keys are listed at the end).
#
# Timings under emulation are not performance figures and are never printed as such.
# PYTHON: the x86 Python with glacier-edge installed (default: python3).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUNDLE=$(realpath "${1:?usage: check.sh BUNDLE SEQUENCE [WORKDIR]}")
SEQUENCE=$(realpath "${2:?usage: check.sh BUNDLE SEQUENCE [WORKDIR]}")
WORK=${3:-${XDG_CACHE_HOME:-$HOME/.cache}/glacier-edge/arm64}
PYTHON=${PYTHON:-python3}
INT8_BOUND=0.005
FP32_BOUND=1e-5
SYSROOT=$WORK/sysroot
SITE=$WORK/site
mkdir -p "$WORK"

say() { echo "arm64 check: $*"; }

# 1. qemu-user-static
if ! command -v qemu-aarch64-static >/dev/null; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        say "SKIPPED: qemu-user-static is not installed and cannot be installed here (needs root and apt-get)"
        exit 0
    fi
    say "installing qemu-user-static"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user-static >/dev/null
fi

# 2. an arm64 Python from Debian's packages, unpacked into a private sysroot
PACKAGES="python3.11 python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 libgcc-s1 libstdc++6
  gcc-12-base zlib1g libexpat1 libssl3 libffi8 libbz2-1.0 liblzma5 libsqlite3-0 libuuid1 libncursesw6 libtinfo6
  libreadline8 libcrypt1 libdb5.3 libnsl2 libtirpc3 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0
  libkeyutils1 libcom-err2"
if [ ! -x "$SYSROOT/usr/bin/python3.11" ]; then
    if [ "$(id -u)" != 0 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
        say "SKIPPED: Debian's arm64 package lists are not enabled and this user cannot enable them"
        exit 0
    fi
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        dpkg --add-architecture arm64
    fi
    say "downloading the arm64 Python from Debian's packages"
    apt-get update -q >/dev/null
    mkdir -p "$WORK/debs" "$SYSROOT"
    (cd "$WORK/debs" && apt-get download -q -o APT::Sandbox::User=root $(for p in $PACKAGES; do echo "$p:arm64"; done) >/dev/null)
    for deb in "$WORK"/debs/*.deb; do dpkg -x "$deb" "$SYSROOT"; done
fi
# ONNX Runtime reads /proc/cpuinfo to pick kernels; under qemu 7.2 it would see the host's x86
# one and crash. qemu's -L prefix serves this ARM one (a Neoverse-N1-like core: NEON + dot product).
mkdir -p "$SYSROOT/proc"
cat > "$SYSROOT/proc/cpuinfo" <<'CPU'
processor	: 0
BogoMIPS	: 50.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x3
CPU part	: 0xd0c
CPU revision	: 1

CPU

# 3. aarch64 wheels of the edge dependencies, and the project itself (pure Python)
if [ ! -f "$SITE/.complete" ]; then
    say "downloading aarch64 wheels (numpy, imageio, pillow, click, onnxruntime)"
    rm -rf "$SITE" "$WORK/wheels"
    "$PYTHON" -m pip download -q --disable-pip-version-check --only-binary=:all: --python-version 3.11 \
        --implementation cp --abi cp311 --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 \
        --platform manylinux2014_aarch64 -d "$WORK/wheels" numpy imageio pillow click onnxruntime
    "$PYTHON" -m pip install -q --disable-pip-version-check --no-deps --target "$SITE" --only-binary=:all: \
        --python-version 3.11 --implementation cp --abi cp311 --platform manylinux_2_28_aarch64 \
        --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 "$WORK"/wheels/*.whl
    touch "$SITE/.complete"
fi
rm -rf "$WORK/project"
"$PYTHON" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation --target "$WORK/project" "$ROOT" \
    >/dev/null 2>&1 || "$PYTHON" -m pip install -q --disable-pip-version-check --no-deps --target "$WORK/project" "$ROOT"

# 4. x86 reference and aarch64 runs, sharing one cache
CACHE="$WORK/cache"
rm -rf "$CACHE" "$WORK/out"
mkdir -p "$CACHE" "$WORK/out"
export GLACIER_EDGE_CACHE=$CACHE GLACIER_EDGE_HOME=$WORK/home
arm_python() {
    PYTHONPATH="$WORK/project:$SITE" PYTHONNOUSERSITE=1 PYTHONHOME="$SYSROOT/usr" \
        qemu-aarch64-static -L "$SYSROOT" "$SYSROOT/usr/bin/python3.11" "$@"
}
arm_run() { arm_python -c "from glacier_edge.cli import main; main()" "$@"; }
say "emulated: $(arm_python -c 'import platform, onnxruntime; print(platform.machine(), "onnxruntime", onnxruntime.__version__)')"
precisions=fp32
if grep -q '"encoder_int8"' "$BUNDLE/manifest.json"; then precisions="fp32 int8"; fi
status=0
for precision in $precisions; do
    "$PYTHON" -c "from glacier_edge.cli import main; main()" run "$SEQUENCE" --model "$BUNDLE" \
        --provider cpu --precision "$precision" --format json --output "$WORK/out/x86_$precision.json" 2>/dev/null
    arm_run run "$SEQUENCE" --model "$BUNDLE" --provider cpu --precision "$precision" --format json \
        --output "$WORK/out/arm64_$precision.json" 2>/dev/null
done
"$PYTHON" "$ROOT/benchmarks/arm64/compare.py" "$WORK/out/x86_fp32.json" "$WORK/out/arm64_fp32.json" \
    --max-abs "$FP32_BOUND" --label "fp32 aarch64 vs x86 (bound $FP32_BOUND per frame)" || status=1
if [ "$precisions" != fp32 ]; then
    "$PYTHON" "$ROOT/benchmarks/arm64/compare.py" "$WORK/out/x86_fp32.json" "$WORK/out/arm64_int8.json" \
        --max-mae "$INT8_BOUND" --label "int8 aarch64 vs fp32 x86 (bound: melt MAE $INT8_BOUND)" || status=1
    "$PYTHON" "$ROOT/benchmarks/arm64/compare.py" "$WORK/out/x86_fp32.json" "$WORK/out/x86_int8.json" \
        --label "int8 x86 vs fp32 x86 (for comparison)" || true
fi
entries=$(ls "$CACHE/ort" | sed -E 's/^[0-9a-f]+-ort[^-]+-//; s/\.onnx$//' | sort -u | tr '\n' ' ')
say "optimised-graph cache entries by machine: $entries"
if [ "$(ls "$CACHE/ort" | sed -E 's/^[0-9a-f]+-ort[^-]+-//' | sort -u | wc -l)" -lt 2 ]; then
    say "FAILED: x86 and aarch64 did not keep separate cache entries"
    status=1
fi
[ $status = 0 ] && say "passed" || say "FAILED"
exit $status
