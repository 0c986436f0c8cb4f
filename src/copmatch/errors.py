"""Errors that reach users: each carries a hint saying what to do next.

The CLI prints ``message`` and ``hint`` and exits with status 2; the API maps the
exception *class* to an HTTP status (see ``http_status``), never the message text.
"""

from __future__ import annotations


class CopmatchError(Exception):
    """Base class for every error a user can cause and fix."""

    http_status = 400

    def __init__(self, message: str, hint: str = "", details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        #: Machine-readable facts for API clients, e.g. the id of a running job.
        self.details = details or {}

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class RecordError(CopmatchError):
    """A record in an import file is invalid; names the file, line and reason."""

    http_status = 422

    def __init__(self, path: str, line: int, reason: str, hint: str = "") -> None:
        super().__init__(
            f"{path}:{line}: {reason}",
            hint=hint or "Fix that record and run the import again; nothing was written.",
        )
        self.path = path
        self.line = line
        self.reason = reason


class SourceNotFoundError(CopmatchError):
    """An import source (file or dump folder) is missing or unreadable."""

    http_status = 404


class IndexMissingError(CopmatchError):
    """A query was made before any index was built."""

    http_status = 409


class IndexMismatchError(CopmatchError):
    """A snapshot was built with a different model, dimension or format."""

    http_status = 409


class IndexCorruptError(CopmatchError):
    """A snapshot's files do not match its manifest."""

    http_status = 500


class NotFoundError(CopmatchError):
    """A member, document or introduction id does not exist."""

    http_status = 404


class InvalidQueryError(CopmatchError):
    """A query is empty, too long, or names unknown members."""

    http_status = 422


class QueryTooLargeError(CopmatchError):
    """A query over the HTTP API's documented size limit (the library and CLI read any length)."""

    http_status = 413


class InvalidArgumentError(CopmatchError):
    """An argument names something copmatch does not know: a status, a role, an outcome."""

    http_status = 422


class StoreVersionError(CopmatchError):
    """The database was written by a newer copmatch than this one."""

    http_status = 500


class AuthenticationError(CopmatchError):
    """No API key, or one that is unknown or revoked."""

    http_status = 401


class PermissionDeniedError(CopmatchError):
    """The API key's role does not allow this."""

    http_status = 403


class ConflictError(CopmatchError):
    """The request conflicts with work in progress (e.g. a rebuild already running)."""

    http_status = 409


class InvalidTransitionError(CopmatchError):
    """An introduction cannot move to that status from the one it is in."""

    http_status = 409


class ModelMissingError(CopmatchError):
    """The encoder an index build or a query needs has not been exported (copmatch models export)."""

    http_status = 409


class SourceConflictError(CopmatchError):
    """An import would overwrite records that another source imported."""

    http_status = 409


class DataDirError(CopmatchError):
    """The data dir is not a folder copmatch can use (a file, unreadable, not a copmatch database)."""

    http_status = 500


class PayloadTooLargeError(CopmatchError):
    """A request body is larger than the server accepts (setting api_max_body_bytes)."""

    http_status = 413


class TooManyRequestsError(CopmatchError):
    """A client or key sent more requests than its rate allows; ``retry_after_s`` says when to retry."""

    http_status = 429

    def __init__(self, message: str, hint: str = "", retry_after_s: int = 1, details: dict | None = None) -> None:
        super().__init__(message, hint, {**(details or {}), "retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s
