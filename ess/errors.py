"""Errors a user can act on. The CLI prints them without a traceback."""


class UserError(Exception):
    """Bad input or parameters: the message names the file, row or column, and what to do."""


class InputFileError(UserError):
    """A raw file cannot be read as the official format it should be."""
