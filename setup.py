"""ament_python / pip packaging of dyq_vla_ros."""

import os
import platform
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "dyq_vla_ros"


def _extensions() -> tuple[dict, list]:
    """The optional W4AX C++ kernels: built on x86-64 and aarch64 when torch is importable at build time.

    One shared object holds every path of the architecture (x86-64: AVX-512 VNNI, AVX-VNNI, AVX2;
    aarch64: NEON dotprod, NEON), each in its own target region; no global -m flags, so nothing
    beyond the base ISA runs before the dispatch has checked the CPU. Without them (another
    architecture, no compiler, DYQ_VLA_NO_EXTENSION=1) the package still works on the portable torch
    path; `dyq-vla bench` reports which backend ran.
    """
    machine = platform.machine().lower()
    if os.environ.get("DYQ_VLA_NO_EXTENSION") or machine not in ("x86_64", "amd64", "aarch64", "arm64"):
        return {}, []
    try:
        from torch.utils.cpp_extension import BuildExtension, CppExtension
    except ImportError:
        return {}, []
    ext = CppExtension(
        f"{PACKAGE}.quant._w4ax_cpu",
        sorted(glob(f"{PACKAGE}/quant/csrc/w4ax_*.cpp")),
        # -fopenmp: at::parallel_for is OpenMP in torch's CPU builds; without it the kernels run on one thread.
        # -ffp-contract=off: the float epilogues round as written, whatever the compiler's default.
        extra_compile_args=["-O3", "-fopenmp", "-ffp-contract=off", "-Wno-maybe-uninitialized"],
        extra_link_args=["-fopenmp"],
        depends=sorted(glob(f"{PACKAGE}/quant/csrc/*")),
    )
    return {"build_ext": BuildExtension}, [ext]


CMDCLASS, EXT_MODULES = _extensions()
TRITON = "triton>=3.4; platform_system == 'Linux'"
MODEL_FILES = [str(p.relative_to(PACKAGE)) for p in Path(PACKAGE, "models").rglob("*") if p.is_file()]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={PACKAGE: MODEL_FILES},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    python_requires=">=3.10",
    install_requires=[
        "matplotlib",
        "numpy",
        "opencv-python-headless",
        "pyyaml",
        "rosbags>=0.10",
        "tqdm",
        "safetensors",
        "tokenizers",
        "torch>=2.1",
        "transformers>=5.24,<6",
    ],
    extras_require={
        # Triton W4AX kernels on CUDA; never in a CPU-only `make setup` (the tests run them on the CPU
        # under Triton's interpreter). pip keeps the installed torch: triton does not depend on it.
        "cuda": [TRITON],
        # the onnxruntime MatMulNBits peers of `dyq-vla bench --peers` (skipped with a note without them)
        "peers": ["onnx", "onnxruntime"],
        # evaluation episodes spread over a Ray cluster (`--ray ADDRESS`); local processes without it
        "ray": ["ray"],
        "test": ["hypothesis", "mypy", "onnx", "onnxruntime", "pytest", "pytest-timeout", "ray", "ruff", TRITON],
    },
    ext_modules=EXT_MODULES,
    cmdclass=CMDCLASS,
    zip_safe=False,
    maintainer="dyq_vla_ros developers",
    maintainer_email="dev@dyq-vla.invalid",
    description="ROS 2 VLA policy node with kinematics-driven dynamic activation precision (DyQ-VLA).",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "dyq_vla_node = dyq_vla_ros.ros.dyq_vla_node:main",
            "sim_robot_node = dyq_vla_ros.ros.sim_robot_node:main",
            "dyq-vla = dyq_vla_ros.cli:main",
        ],
    },
)
