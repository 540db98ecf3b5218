"""The root of the package's user errors: bad input, files or settings, reported in one line."""


class DyqVlaError(Exception):
    """Something the user can correct (a file, a setting, an input); the message says what and where."""
