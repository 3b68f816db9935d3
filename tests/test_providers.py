"""Provider choice with ONNX Runtime's answers faked: what a CUDA box, a broken CUDA install and a
CPU-only wheel report. Runs without a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest

import glacier_edge.edge.runtime as runtime
from glacier_edge.errors import ProviderError

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
OPENVINO, TENSORRT = "OpenVINOExecutionProvider", "TensorrtExecutionProvider"


class FakeSession:
    """Gets the first provider asked for unless it is in ``refused`` (ORT's silent fallback)."""

    refused: set[str] = set()
    raise_on_cuda = False

    asked: list[str] = []

    def __init__(self, path: str, options: object = None, providers: list[str] | None = None) -> None:
        providers = providers or [CPU]
        FakeSession.asked = list(providers)
        if self.raise_on_cuda and CUDA in providers:
            raise RuntimeError("libcudnn.so.9: cannot open shared object file\nmore detail")
        self.providers = [p for p in providers if p not in self.refused]

    def get_providers(self) -> list[str]:
        return self.providers


@pytest.fixture
def fake_ort(monkeypatch: pytest.MonkeyPatch):
    def install(available: list[str], refused: set[str] = frozenset(), raise_on_cuda: bool = False) -> None:
        FakeSession.refused, FakeSession.raise_on_cuda = set(refused), raise_on_cuda
        monkeypatch.setattr(runtime.ort, "get_available_providers", lambda: list(available))
        monkeypatch.setattr(runtime.ort, "InferenceSession", FakeSession)

    return install


MODEL = Path("model.onnx")


def test_auto_uses_cuda_when_the_session_really_gets_it(fake_ort) -> None:
    fake_ort([CUDA, CPU])
    session, provider = runtime.create_session(MODEL, "auto")
    assert provider == "cuda" and session.get_providers()[0] == CUDA


def test_auto_detects_silent_fallback_and_reports_cpu(fake_ort) -> None:
    fake_ort([CUDA, CPU], refused={CUDA})
    _, provider = runtime.create_session(MODEL, "auto")
    assert provider == "cpu"


def test_cuda_strict_refuses_silent_fallback(fake_ort) -> None:
    fake_ort([CUDA, CPU], refused={CUDA})
    with pytest.raises(ProviderError, match="offered CUDAExecutionProvider but the session fell back to CPU"):
        runtime.create_session(MODEL, "cuda")


def test_cuda_library_load_error_is_one_line(fake_ort) -> None:
    fake_ort([CUDA, CPU], raise_on_cuda=True)
    with pytest.raises(ProviderError) as caught:
        runtime.create_session(MODEL, "cuda")
    assert "libcudnn.so.9: cannot open shared object file" in str(caught.value)
    assert "\n" not in str(caught.value)
    _, provider = runtime.create_session(MODEL, "cuda", allow_fallback=True)
    assert provider == "cpu"


def test_cpu_only_wheel(fake_ort) -> None:
    fake_ort([CPU])
    with pytest.raises(ProviderError, match="no CUDAExecutionProvider .* install onnxruntime-gpu"):
        runtime.create_session(MODEL, "cuda")
    assert runtime.create_session(MODEL, "auto")[1] == "cpu"
    assert runtime.create_session(MODEL, "cpu")[1] == "cpu"


def test_session_options_turn_spinning_off() -> None:
    options = runtime.session_options(2)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == 2


def test_openvino_and_tensorrt_get_the_same_really_got_it_check(fake_ort) -> None:
    fake_ort([OPENVINO, CPU])
    session, provider = runtime.create_session(MODEL, "openvino")
    assert provider == "openvino" and FakeSession.asked == [OPENVINO, CPU]
    assert runtime.create_session(MODEL, "auto")[1] == "cpu"  # auto means CUDA or CPU, never a surprise
    fake_ort([OPENVINO, CPU], refused={OPENVINO})
    with pytest.raises(ProviderError, match="offered OpenVINOExecutionProvider but the session fell back"):
        runtime.create_session(MODEL, "openvino")
    fake_ort([CPU])
    with pytest.raises(ProviderError, match="no OpenVINOExecutionProvider .* install onnxruntime-openvino"):
        runtime.create_session(MODEL, "openvino")
    fake_ort([TENSORRT, CUDA, CPU])
    assert runtime.create_session(MODEL, "tensorrt")[1] == "tensorrt"
    assert FakeSession.asked == [TENSORRT, CUDA, CPU]  # TensorRT hands unsupported nodes to CUDA
    fake_ort([TENSORRT, CUDA, CPU], refused={TENSORRT})
    _, provider = runtime.create_session(MODEL, "tensorrt", allow_fallback=True)
    assert provider == "cpu"

