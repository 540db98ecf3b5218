"""Errors raised by the bag package."""

from dyq_vla_ros.errors import DyqVlaError


class BagError(DyqVlaError):
    """A bag that cannot be written or read as asked; the message says why."""
