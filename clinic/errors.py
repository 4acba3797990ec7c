"""Domain errors raised by services and selectors, each mapped to one HTTP status.

Services raise these; ``clinic.api.errors`` turns them into RFC 9457 problem details. The
``code`` is machine-readable and stable: clients branch on it (``room_unavailable``,
``candidacy_not_approved``, ...).
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    status = 400
    code = "invalid"
    title = "Invalid request"
    default_detail = "The request could not be processed."

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.default_detail
        if code:
            self.code = code
        self.errors = errors or {}
        self.extra = extra or {}
        super().__init__(self.detail)


class InvalidInput(ApplicationError):
    """Bad values: ``errors`` names each field and why."""

    status = 400
    code = "invalid"
    title = "Invalid input"
    default_detail = "Some values are not valid; see errors."


class AuthenticationFailed(ApplicationError):
    status = 401
    code = "authentication_failed"
    title = "Authentication failed"
    default_detail = "Those credentials are not valid."


class NotFound(ApplicationError):
    status = 404
    code = "not_found"
    title = "Not found"
    default_detail = "No such record."


class PermissionDenied(ApplicationError):
    status = 403
    code = "permission_denied"
    title = "Forbidden"
    default_detail = "Your role does not allow this."


class Conflict(ApplicationError):
    """The request conflicts with the current state (a busy chair, a wrong lifecycle step)."""

    status = 409
    code = "conflict"
    title = "Conflict"
    default_detail = "The request conflicts with the current state."


class RuleViolation(ApplicationError):
    """A clinical or business rule refuses the request (422)."""

    status = 422
    code = "rule_violation"
    title = "Refused by a clinical rule"
    default_detail = "A clinical rule refuses this request."


class Gone(ApplicationError):
    status = 410
    code = "gone"
    title = "Gone"
    default_detail = "This link is no longer valid."
