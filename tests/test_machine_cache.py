"""The per-machine cache of optimised ONNX graphs never hands one machine's graph to another."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest

from glacier_edge.edge import runtime
from glacier_edge.edge.machine import cpuinfo, isa_flags, machine_key

TINY_ENCODER = Path(__file__).resolve().parent / "fixtures" / "tiny_bundle" / "encoder.onnx"
ZEN3 = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse4_2 avx avx2 fma f16c aes\n"
ZEN5 = ZEN3.replace("avx2 fma", "avx2 fma avx512f avx512bw avx512vl avx512_vnni")
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32 asimddp\nCPU implementer\t: 0x41\n"


def test_machine_keys_differ_by_architecture_and_isa_and_ignore_the_rest() -> None:
    zen3, zen5 = machine_key("x86_64", cpuinfo(ZEN3)), machine_key("x86_64", cpuinfo(ZEN5))
    arm = machine_key("aarch64", cpuinfo(ARM))
    assert len({zen3, zen5, arm}) == 3
    assert zen3.startswith("x86_64-") and arm.startswith("aarch64-")
    assert isa_flags(cpuinfo(ZEN3)) == ("avx", "avx2", "f16c", "fma", "sse4_2")  # aes, fpu: not ORT's business
    reordered = ZEN3.replace("avx avx2 fma", "fma avx2 avx").replace("aes", "aes sha_ni")
    assert machine_key("x86_64", cpuinfo(reordered)) == zen3


def test_a_foreign_cache_entry_is_never_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    sha = "ab" * 32
    opened: list[str] = []
    real_session = ort.InferenceSession

    def spying_session(path: str, *args: object, **kwargs: object) -> ort.InferenceSession:
        opened.append(str(path))
        return real_session(path, *args, **kwargs)

    monkeypatch.setattr(runtime.ort, "InferenceSession", spying_session)
    monkeypatch.setattr(runtime, "this_machine", lambda: machine_key("x86_64", cpuinfo(ZEN5)))
    runtime.cpu_session(TINY_ENCODER, runtime.session_options(1), sha)
    x86_entry = runtime.optimised_cache_path(sha)
    assert x86_entry.is_file() and machine_key("x86_64", cpuinfo(ZEN5)) in x86_entry.name
    before = x86_entry.read_bytes()

    monkeypatch.setattr(runtime, "this_machine", lambda: machine_key("aarch64", cpuinfo(ARM)))
    opened.clear()
    runtime.cpu_session(TINY_ENCODER, runtime.session_options(1), sha)
    arm_entry = runtime.optimised_cache_path(sha)
    assert arm_entry != x86_entry and arm_entry.is_file()
    assert str(x86_entry) not in opened and x86_entry.read_bytes() == before

    opened.clear()  # the same machine again: its own entry is what loads
    runtime.cpu_session(TINY_ENCODER, runtime.session_options(1), sha)
    assert opened == [str(arm_entry)]


def test_int8_kernel_path_names_the_saturation_risk_only_where_it_exists() -> None:
    from glacier_edge.edge.machine import int8_kernel_path

    assert "16-bit sums that can saturate" in int8_kernel_path("x86_64", isa_flags(cpuinfo(ZEN3)))
    assert int8_kernel_path("x86_64", isa_flags(cpuinfo(ZEN5))).startswith("x86 VNNI")
    assert int8_kernel_path("aarch64", isa_flags(cpuinfo(ARM))) == "ARM dot product (asimddp)"


def test_int8_format_choices_are_the_formats_export_knows() -> None:
    pytest.importorskip("onnx", reason="onnxruntime.quantization needs the onnx package (train extra)")
    from glacier_edge.contracts import INT8_FORMATS
    from glacier_edge.export.quantize import CANDIDATES, FORMATS

    assert tuple(fmt.key for fmt in FORMATS) == INT8_FORMATS
    assert set(CANDIDATES) <= set(FORMATS)
