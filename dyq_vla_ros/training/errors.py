"""Errors raised by the training package."""

from dyq_vla_ros.errors import DyqVlaError


class DatasetError(DyqVlaError, ValueError):
    """A dataset directory that is missing, incomplete or inconsistent."""
