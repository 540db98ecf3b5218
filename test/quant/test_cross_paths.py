"""The kernel paths this machine cannot execute natively, from the same sources, against the reference.

The torch-free kernel core (dyq_vla_ros/quant/csrc) is built into a small driver (w4ax_driver.cpp)
that reads a layer from a file and writes its outputs:
* x86: every x86 path with SIMDe (Debian libsimde-dev) emulating the AVX-512 VNNI and AVX-VNNI
  intrinsics on AVX2, so those kernels are checked on a CPU without them;
* aarch64: cross-compiled (Debian g++-aarch64-linux-gnu) and run under qemu-user (Debian qemu-user):
  `-cpu max` has dotprod, `-cpu cortex-a53` has not (the plain NEON fallback, and dotprod refused).
Without those packages the tests skip, naming them (.ci/run installs them).
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dyq_vla_ros.quant import ActivationPrecision, W4AXLinear
from dyq_vla_ros.quant.activations import fake_quantize_per_token
from dyq_vla_ros.quant.kernels import CPU_TILE_ROWS
from dyq_vla_ros.quant.layouts import to_cols
from dyq_vla_ros.quant.weights import padded_in_features, quantize_int4, unpack_int4

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "dyq_vla_ros" / "quant" / "csrc"
DRIVER = Path(__file__).with_name("w4ax_driver.cpp")
X86 = platform.machine().lower() in ("x86_64", "amd64")
SIMDE = Path("/usr/include/simde/x86/avx512.h")
CROSS, QEMU = shutil.which("aarch64-linux-gnu-g++"), shutil.which("qemu-aarch64")
FLAGS = ["-O2", "-std=c++17", "-ffp-contract=off", f"-I{CSRC}"]
ACT_XOR = {"avx512vnni": 0, "avxvnni": 0, "avx2": 0, "avx2_cols": 0, "neon_dotprod": 0x80, "neon": 0x80}

# tokens, in, out, group, bias: GEMV and few-token tiles, padded inputs, partial row tiles, groups of 128/256
CASES = [
    (1, 64, 8, 64, True),
    (2, 512, 40, 64, True),
    (11, 96, 257, 64, True),
    (129, 256, 96, 128, False),
    (5, 1024, 33, 256, False),
    (61, 256, 72, 64, True),
]


def _build(out: Path, compiler: str, sources: list[Path], flags: list[str]) -> Path:
    result = subprocess.run(
        [compiler, *FLAGS, *flags, *map(str, sources), "-o", str(out)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def simde_driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The driver with every x86 path, the VNNI ones on SIMDe."""
    if not X86:
        pytest.skip("the SIMDe build checks the x86 paths: this is not an x86-64 machine")
    if not SIMDE.is_file():
        pytest.skip("SIMDe headers missing: apt-get install libsimde-dev (the AVX-512 VNNI / AVX-VNNI check)")
    sources = [DRIVER, CSRC / "w4ax_dispatch.cpp", *sorted(CSRC.glob("w4ax_x86_*.cpp"))]
    flags = ["-DDYQ_SIMDE", "-mavx2", "-mfma", "-mf16c", "-Wno-psabi"]
    return _build(tmp_path_factory.mktemp("simde") / "w4ax_driver", "g++", sources, flags)


@pytest.fixture(scope="module")
def arm_driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The driver cross-compiled for aarch64 (static, so qemu-user needs no sysroot)."""
    if CROSS is None or QEMU is None:
        pytest.skip("the aarch64 check needs apt-get install g++-aarch64-linux-gnu qemu-user")
    sources = [DRIVER, CSRC / "w4ax_dispatch.cpp", CSRC / "w4ax_arm_neon.cpp"]
    return _build(tmp_path_factory.mktemp("arm") / "w4ax_driver", CROSS, sources, ["-static"])


def _layer(tokens: int, in_features: int, out_features: int, group: int, bias: bool) -> tuple[nn.Linear, torch.Tensor]:
    torch.manual_seed(tokens * 7 + in_features)
    x = 3 * torch.randn(tokens, in_features) + 0.5
    return nn.Linear(in_features, out_features, bias=bias), x


def _write_input(path: Path, linear: nn.Linear, x: torch.Tensor, bits: int, group: int, tile: int) -> None:
    n, k = linear.out_features, linear.in_features
    packed, scales = quantize_int4(linear.weight, group)
    q = unpack_int4(packed, group).reshape(n, -1, group).sum(-1, dtype=torch.int32)
    corr = (q.float() * scales.float()).sum(-1)
    if tile > 1:
        packed, scales = to_cols(packed, scales, tile)
    head = np.array([x.shape[0], k, n, padded_in_features(k, group), group, bits, linear.bias is not None], np.int64)
    parts = [head, x.numpy().astype(np.float32), packed.numpy(), scales.view(torch.int16).numpy(), corr.numpy()]
    if linear.bias is not None:
        parts.append(linear.bias.detach().numpy().astype(np.float32))
    path.write_bytes(b"".join(p.tobytes() for p in parts))


def _run(prefix: list[str], driver: Path, path: str, tmp: Path, jobs: list[tuple]) -> list[dict]:
    """Each job (linear, x, bits, group) through `path`; the outputs it wrote."""
    args = []
    for i, (linear, x, bits, group) in enumerate(jobs):
        _write_input(tmp / f"in{i}", linear, x, bits, group, CPU_TILE_ROWS[path])
        args += [str(tmp / f"in{i}"), str(tmp / f"out{i}")]
    result = subprocess.run([*prefix, str(driver), path, *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{path}: rc {result.returncode} {result.stderr}"
    outputs = []
    for i, (linear, x, bits, group) in enumerate(jobs):
        data = (tmp / f"out{i}").read_bytes()
        m, n, padded = x.shape[0], linear.out_features, padded_in_features(linear.in_features, group)
        record = {"y": torch.from_numpy(np.frombuffer(data, np.float32, m * n).reshape(m, n).copy())}
        if bits != 16:
            offset = 4 * m * n
            codes = np.frombuffer(data, np.uint8, m * padded, offset).reshape(m, padded)
            record["codes"] = torch.from_numpy(codes.copy())
            record["scale"] = torch.from_numpy(np.frombuffer(data, np.float32, m, offset + m * padded).copy())
            record["zero"] = torch.from_numpy(np.frombuffer(data, np.float32, m, offset + m * padded + 4 * m).copy())
        outputs.append(record)
    return outputs


def _check_against_the_reference(prefix: list[str], driver: Path, path: str, tmp: Path) -> None:
    jobs, expected = [], []
    for tokens, in_features, out_features, group, bias in CASES:
        linear, x = _layer(tokens, in_features, out_features, group, bias)
        for bits in (16, 8, 4, 2):
            jobs.append((linear, x, bits, group))
            ref = W4AXLinear(linear, ActivationPrecision(bits), group_size=group, backend="reference")
            with torch.inference_mode():
                expected.append(ref(x))
    # one token of the 61-token batch alone (the GEMV kernel) gives the batch's bits
    linear, x = _layer(*CASES[-1])
    jobs += [(linear, x[17:18], bits, 64) for bits in (16, 8)]
    outputs = _run(prefix, driver, path, tmp, jobs)
    for (linear, x, bits, _), out, ref in zip(jobs, outputs, expected, strict=False):
        scale = float(ref.abs().max())
        torch.testing.assert_close(out["y"], ref, rtol=1e-4, atol=1e-4 * scale, msg=f"{path} {tuple(x.shape)} {bits}")
        if bits != 16:
            codes = out["codes"][:, : linear.in_features] ^ ACT_XOR[path]
            dequantized = (codes.float() - out["zero"][:, None]) * out["scale"][:, None]
            assert torch.equal(dequantized, fake_quantize_per_token(x, bits)), f"{path}: activation codes differ"
    for single, bits in zip(outputs[-2:], (16, 8), strict=True):
        batch = outputs[len(CASES) * 4 - 4 + (0 if bits == 16 else 1)]["y"]
        assert torch.equal(single["y"][0], batch[17]), f"{path} {bits}: GEMV and batch tilings differ"


@pytest.mark.parametrize("path", ["avx512vnni", "avxvnni", "avx2", "avx2_cols"])
def test_x86_paths_under_simde_match_the_reference(simde_driver, path, tmp_path):
    _check_against_the_reference([], simde_driver, path, tmp_path)


@pytest.mark.parametrize(("cpu", "path"), [("max", "neon_dotprod"), ("max", "neon"), ("cortex-a53", "neon")])
def test_aarch64_paths_under_qemu_match_the_reference(arm_driver, cpu, path, tmp_path):
    _check_against_the_reference([str(QEMU), "-cpu", cpu], arm_driver, path, tmp_path)


def test_the_aarch64_dispatch_sees_the_cpu_and_refuses_dotprod_without_it(arm_driver, tmp_path):
    listing = {}
    for cpu in ("max", "cortex-a53"):
        out = subprocess.run([str(QEMU), "-cpu", cpu, str(arm_driver), "--paths"], capture_output=True, text=True)
        listing[cpu] = {line.split()[0]: line.split()[1] == "1" for line in out.stdout.splitlines()[:-1]}
    assert listing["max"] == {"neon_dotprod": True, "neon": True}
    assert listing["cortex-a53"] == {"neon_dotprod": False, "neon": True}
    refused = subprocess.run(
        [str(QEMU), "-cpu", "cortex-a53", str(arm_driver), "neon_dotprod", "in", "out"], capture_output=True, text=True
    )
    assert refused.returncode == 3 and "lacks" in refused.stderr
