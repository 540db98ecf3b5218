"""Static type check (mypy) of the package's typed layers."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHECKED = (
    "dyq_vla_ros/types.py",
    "dyq_vla_ros/errors.py",
    "dyq_vla_ros/contract.py",
    "dyq_vla_ros/kinematics.py",
    "dyq_vla_ros/params.py",
    "dyq_vla_ros/sensors.py",
    "dyq_vla_ros/dyq",
    "dyq_vla_ros/control",
    "dyq_vla_ros/quant",
    "dyq_vla_ros/ros",
    "dyq_vla_ros/bags",
    "dyq_vla_ros/cli",
)
"""What mypy checks (setup.cfg [mypy] holds its settings)."""


def test_mypy_finds_no_type_errors():
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", *CHECKED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
