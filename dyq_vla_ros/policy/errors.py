"""Errors raised by the policy package."""

from dyq_vla_ros.errors import DyqVlaError


class PolicyError(DyqVlaError):
    """Base class of policy errors."""


class CheckpointError(PolicyError):
    """A checkpoint directory that is missing, incomplete or inconsistent."""


class ObservationError(PolicyError, ValueError):
    """An observation the policy cannot use (wrong shape, non-finite values)."""
