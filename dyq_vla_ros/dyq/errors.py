"""Errors raised by the DyQ core."""

from dyq_vla_ros.errors import DyqVlaError


class DyqError(DyqVlaError):
    """Base class of DyQ core errors."""


class ProxyInputError(DyqError, ValueError):
    """A kinematic input (action or joint state) that cannot be used."""


class CalibrationError(DyqError, ValueError):
    """A calibration file or value that is missing or inconsistent."""
