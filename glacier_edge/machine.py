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
