"""The one exception hierarchy of planview.

Library code (``geo``, ``layers``) raises these; ``server/errors.py`` maps each
class to an HTTP status in one place and the CLI maps them to exit codes. Every
error carries a safe bilingual message for the user (``message``) and may carry
``detail`` for the log only.
"""

from __future__ import annotations


class PlanviewError(Exception):
    """Base class. ``message`` is shown to users; ``detail`` goes to the log."""

    code = "error"

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class NotFound(PlanviewError):
    """A named thing (layer, map, workspace) does not exist."""

    code = "not_found"


class InvalidInput(PlanviewError):
    """The caller's input is malformed or out of range; the message says what to fix."""

    code = "invalid_input"


class TooLarge(InvalidInput):
    """An upload or archive exceeds a configured limit."""

    code = "too_large"


class UnsupportedFormat(InvalidInput):
    """A file whose format cannot be read."""

    code = "unsupported_format"


class DataError(PlanviewError):
    """Project data (a manifest, a layer file, a join) is broken; names the file and field."""

    code = "data_error"


class JoinError(DataError):
    """Geometry and attribute keys do not match one to one."""

    code = "join_error"


class StorageError(PlanviewError):
    """The workspace store failed; nothing was half-written."""

    code = "storage_error"


class NotAuthenticated(PlanviewError):
    """The request needs a signed-in user (a session or an API token) and has none, or a wrong one."""

    code = "not_authenticated"


class Forbidden(PlanviewError):
    """The signed-in user's role does not carry the right the operation needs."""

    code = "forbidden"


class CsrfFailed(Forbidden):
    """A state-changing browser request without this session's CSRF token (a stale form, or another site)."""

    code = "csrf_failed"


class TooManyAttempts(PlanviewError):
    """Login throttled: too many failed attempts for this account or address; ``retry_after`` in seconds."""

    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int = 60, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.retry_after = retry_after


class Conflict(InvalidInput):
    """The thing already exists (a user name taken) or the change contradicts the current state."""

    code = "conflict"


class Busy(PlanviewError):
    """The server has no room for more heavy work now (job queue full); the caller should retry later."""

    code = "busy"

    def __init__(self, message: str, *, detail: str | None = None, retry_after: int = 5) -> None:
        super().__init__(message, detail=detail)
        self.retry_after = retry_after


class JobLimitExceeded(TooLarge):
    """A job passed its time or memory limit and was stopped; the message says what to simplify."""

    code = "job_limit"


class QuotaExceeded(PlanviewError):
    """Saving would take the owner's (or the store's) storage past its quota; the message says what to delete."""

    code = "quota_exceeded"
