"""The triton backend's selection, and its kernel cases run in a fresh process (under the interpreter on a CPU)."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from dyq_vla_ros.contract import PARAMETERS, QUANT_BACKENDS
from dyq_vla_ros.quant import ActivationPrecision, QuantizationError, W4AXLinear
from dyq_vla_ros.quant.kernels import CPU_PATHS, kernel_path, resolve_backend
from dyq_vla_ros.quant.triton_w4ax import INTERPRETER_ENV, triton_importable

CASES = Path(__file__).with_name("triton_kernel_cases.py")
CPU = torch.device("cpu")
needs_triton = pytest.mark.skipif(not triton_importable(), reason="triton is not installed (the test extra)")
INTERPRETED_FROM_THE_START = os.environ.get(INTERPRETER_ENV) == "1"


@pytest.mark.skipif(platform.system() != "Linux" or platform.machine() != "x86_64", reason="PyPI triton wheels")
def test_triton_is_installed_with_the_test_extra():
    assert triton_importable(), "triton is missing: `make test` installs the test extra"


@needs_triton
def test_triton_resolves_on_cuda_or_under_the_interpreter_only(monkeypatch):
    monkeypatch.delenv(INTERPRETER_ENV, raising=False)
    with pytest.raises(QuantizationError, match=INTERPRETER_ENV):
        resolve_backend("triton", CPU, 64)
    assert resolve_backend("auto", CPU, 64) in (*CPU_PATHS, "torch")
    monkeypatch.setenv(INTERPRETER_ENV, "1")
    assert resolve_backend("triton", CPU, 64) == "triton"
    assert resolve_backend("auto", CPU, 64) in (*CPU_PATHS, "torch")  # never triton on a CPU
    for group in (32, 192):
        with pytest.raises(QuantizationError, match="power of two"):
            resolve_backend("triton", CPU, group)
    assert (
        "triton" in QUANT_BACKENDS
        and "TRITON_INTERPRET" in next(p for p in PARAMETERS if p.name == "quant_backend").description
    )
    assert "int8 path" in kernel_path("triton", 2) and "w4a16" in kernel_path("triton", 16)


@needs_triton
@pytest.mark.skipif(INTERPRETED_FROM_THE_START or torch.cuda.is_available(), reason="needs a non-interpreted CPU run")
def test_switching_the_interpreter_on_after_triton_was_imported_is_a_clear_error(monkeypatch):
    import triton  # noqa: F401  (imported here without the interpreter, as transformers' PI0 import does)

    monkeypatch.setenv(INTERPRETER_ENV, "1")
    layer = W4AXLinear(nn.Linear(64, 8), ActivationPrecision(8), backend="triton")
    with pytest.raises(QuantizationError, match="before triton is first imported"):
        layer(torch.randn(2, 64))


@needs_triton
def test_the_kernel_cases_pass_in_a_fresh_process():
    env = dict(os.environ)
    if not torch.cuda.is_available():
        env[INTERPRETER_ENV] = "1"
    args = [sys.executable, "-m", "pytest", "-q", str(CASES)]
    run = subprocess.run(args, cwd=CASES.parents[2], env=env, capture_output=True, text=True, timeout=240, check=False)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout.splitlines()[-1], run.stdout[-2000:]
