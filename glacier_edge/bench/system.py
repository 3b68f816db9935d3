"""What machine a figure was measured on: CPU model and the flags int8 speed depends on."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from importlib import metadata

import onnxruntime as ort

from glacier_edge.edge.machine import cpuinfo, int8_kernel_path

RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "asimd", "asimddp", "i8mm")
"""x86: AVX2/AVX-512 and the VNNI int8 dot products; ARM: NEON (asimd), dot product, i8mm."""


@dataclass(frozen=True)
class SystemInfo:
    cpu: str
    flags: tuple[str, ...]
    cores: int
    threads: int
    onnxruntime: str
    torch: str | None
    python: str
    ort_providers: tuple[str, ...]

    def machine(self) -> str:
        """One line: the CPU and its int8-relevant flags (what the manifest records)."""
        return f"{self.cpu} [{' '.join(self.flags) or 'no AVX2/VNNI/NEON flags seen'}], {self.cores} cores"

    def line(self) -> str:
        return (f"CPU: {self.cpu} [{' '.join(self.flags) or 'no AVX2/VNNI/NEON flags seen'}] | cores {self.cores} | "
                f"threads {self.threads} | onnxruntime {self.onnxruntime} | torch {self.torch or 'not installed'}\n"
                f"int8 kernels: {int8_kernel_path()} | ORT providers here: {', '.join(self.ort_providers)}")


def cpu_model() -> str:
    return cpuinfo().get("model name") or platform.processor() or platform.machine()


def cpu_flags() -> tuple[str, ...]:
    info = cpuinfo()
    present = set((info.get("flags") or info.get("Features") or "").split())
    return tuple(flag for flag in RELEVANT_FLAGS if flag in present)


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def system_info(threads: int | None) -> SystemInfo:
    cores = os.cpu_count() or 1
    return SystemInfo(cpu_model(), cpu_flags(), cores, threads or cores, ort.__version__, package_version("torch"),
                      platform.python_version(), tuple(ort.get_available_providers()))
