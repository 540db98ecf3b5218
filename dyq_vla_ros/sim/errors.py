"""Errors raised by the simulator."""

from dyq_vla_ros.errors import DyqVlaError


class SimError(DyqVlaError, ValueError):
    """An action or setting the simulator cannot use."""
