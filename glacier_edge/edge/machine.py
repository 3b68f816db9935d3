"""Which machine this is, as far as ONNX Runtime's optimised graphs care: the architecture and the
instruction-set extensions its kernels and layout transforms are chosen by.

ORT's fully optimised graph is machine-specific: on x86 it holds ``com.microsoft.nchwc`` nodes
whose block size follows the vector width (8 floats with AVX2, 16 with AVX-512), and an ARM
build optimises differently again. A cache shared between machines (NFS home, container image,
an SD card moved between boxes) must therefore never hand one machine's graph to another: the
cache key carries :func:`machine_key`.
"""

from __future__ import annotations

import functools
import hashlib
import platform
from pathlib import Path

ISA_FLAGS = frozenset({
    # x86: the vector widths and int8/bf16 dot products MLAS dispatches on
    "sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
    "avx512dq", "avx512cd", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_int8",
    "amx_bf16",
    # ARM: NEON, half precision, dot product, int8 matrix multiply, bf16, SVE
    "asimd", "asimdhp", "fphp", "asimddp", "i8mm", "bf16", "sve", "sve2",
})


def cpuinfo(text: str | None = None) -> dict[str, str]:
    """The first value of each /proc/cpuinfo field (empty where there is none, e.g. macOS)."""
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text()
        except OSError:
            text = ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def isa_flags(fields: dict[str, str] | None = None) -> tuple[str, ...]:
    """Sorted instruction-set flags of this CPU that ORT's kernels depend on."""
    fields = cpuinfo() if fields is None else fields
    present = set((fields.get("flags") or fields.get("Features") or "").split())
    return tuple(sorted(present & ISA_FLAGS))


@functools.lru_cache(maxsize=1)
def this_machine() -> str:
    """:func:`machine_key` of the machine this process runs on (read once)."""
    return machine_key()


def machine_key(arch: str | None = None, fields: dict[str, str] | None = None) -> str:
    """``x86_64-<12 hex>``: architecture plus a digest of the ISA flags (arguments: for tests)."""
    arch = arch or platform.machine() or "unknown"
    digest = hashlib.sha256(" ".join(isa_flags(fields)).encode()).hexdigest()[:12]
    return f"{arch}-{digest}"


def int8_kernel_path(arch: str | None = None, flags: tuple[str, ...] | None = None) -> str:
    """Which int8 matrix kernels ORT's MLAS uses here, and what that means for accuracy."""
    arch = arch or platform.machine()
    present = set(isa_flags() if flags is None else flags)
    if {"amx_int8", "amx_tile"} <= present:
        return "x86 AMX int8 tiles (32-bit sums: no saturation)"
    if "avx512_vnni" in present or "avx_vnni" in present:
        return "x86 VNNI int8 dot products (32-bit sums: no saturation)"
    if "avx2" in present:
        return ("x86 AVX2 without VNNI: U8S8 products pass through 16-bit sums that can saturate "
                "(7-bit weights, U8U8 or session.x64quantprecision avoid it)")
    if arch in ("aarch64", "arm64"):
        if "i8mm" in present:
            return "ARM int8 matrix multiply (i8mm)"
        return "ARM dot product (asimddp)" if "asimddp" in present else "ARM NEON without dot product (slow int8)"
    return "no int8 SIMD path known for this CPU (int8 may be slower than fp32)"

