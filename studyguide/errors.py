"""Errors the user can act on. The CLI prints them as one line and exits 2."""


class UserError(Exception):
    """Bad input or missing set-up: the message names the problem and the fix."""


class SourceError(UserError):
    """A corpus file that is missing, unreadable, corrupt or empty."""


class ModelError(UserError):
    """A model file that is missing or fails its sha256 check."""


class BackendError(UserError):
    """A generator or store backend that cannot be reached or answered badly."""
