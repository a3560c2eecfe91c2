"""Errors raised by the structure builders, so callers can tell bad input from bugs."""


class StructureInputError(ValueError):
    """A builder got input it cannot use; the message says what to change."""
