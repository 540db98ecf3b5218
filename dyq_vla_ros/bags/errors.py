"""Errors raised by the bag package."""


class BagError(Exception):
    """A bag that cannot be written or read as asked; the message says why."""
