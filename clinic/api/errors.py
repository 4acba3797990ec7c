"""RFC 9457 problem details for every error the API can return.

One shape for all of them: ``{type, title, status, detail, code, errors}``, served as
``application/problem+json``. ``errors`` maps a field path (``opening_hours.0.opens``) to its
messages. Unexpected exceptions become a 500 that says nothing about internals.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from clinic import errors
from clinic.request_context import request_id_var

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:ketamine-clinic:problem:"

_DRF_CODES: list[tuple[type[drf_exceptions.APIException], str, str]] = [
    (drf_exceptions.ParseError, "malformed", "Malformed request"),
    (drf_exceptions.ValidationError, "invalid", "Invalid input"),
    (drf_exceptions.NotAuthenticated, "not_authenticated", "Authentication required"),
    (drf_exceptions.AuthenticationFailed, "authentication_failed", "Authentication failed"),
    (drf_exceptions.PermissionDenied, "permission_denied", "Forbidden"),
    (drf_exceptions.NotFound, "not_found", "Not found"),
    (drf_exceptions.MethodNotAllowed, "method_not_allowed", "Method not allowed"),
    (drf_exceptions.NotAcceptable, "not_acceptable", "Not acceptable"),
    (drf_exceptions.UnsupportedMediaType, "unsupported_media_type", "Unsupported media type"),
    (drf_exceptions.Throttled, "throttled", "Too many requests"),
]


def problem(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    errors_: dict[str, list[str]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors_:
        body["errors"] = errors_
    if extra:
        body.update(extra)
    request_id = request_id_var.get()
    if request_id:
        body["request_id"] = request_id
    return body


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error structure into ``{"field.0.sub": ["message"]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            for k, v in flatten_errors(value, path).items():
                flat.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            flat[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                path = f"{prefix}.{index}" if prefix else str(index)
                for k, v in flatten_errors(item, path).items():
                    flat.setdefault(k, []).extend(v)
    elif detail is not None and str(detail):
        flat[prefix or "non_field_errors"] = [str(detail)]
    return flat


def _from_django_validation_error(exc: DjangoValidationError) -> errors.InvalidInput:
    if hasattr(exc, "error_dict"):
        fields = {("non_field_errors" if k == "__all__" else k): v for k, v in exc.message_dict.items()}
    else:
        fields = {"non_field_errors": exc.messages}
    return errors.InvalidInput(errors=fields)


def _normalise(exc: Exception) -> Exception:
    """Django's own exceptions, raised by shortcuts and model validation, as domain errors."""
    if isinstance(exc, Http404):
        return errors.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return errors.PermissionDenied()
    if isinstance(exc, DjangoValidationError):
        return _from_django_validation_error(exc)
    if isinstance(exc, OperationalError) and _is_concurrency_abort(exc.__cause__):
        return errors.Conflict(
            "Another change to the same records happened at the same moment; nothing was saved. Try again.",
            code="concurrent_change",
        )
    return exc


def _is_concurrency_abort(cause: BaseException | None) -> bool:
    """PostgreSQL aborted the transaction to break a deadlock or a serialization conflict (two
    series locking the same clinicians in opposite orders, say): the request lost a race, which
    is a 409 to retry, not a server error. The transaction was rolled back whole."""
    try:
        from psycopg import errors as pg
    except ImportError:  # SQLite has no such aborts
        return False
    return isinstance(cause, pg.DeadlockDetected | pg.SerializationFailure)


def _drf_problem(exc: drf_exceptions.APIException, context: dict[str, Any]) -> tuple[dict, int, dict[str, str]]:
    code, title = next(((c, t) for cls, c, t in _DRF_CODES if isinstance(exc, cls)), ("error", "Error"))
    status = exc.status_code
    headers: dict[str, str] = {}
    if isinstance(exc, drf_exceptions.ValidationError):
        body = problem(
            status=status,
            code=code,
            title=title,
            detail="Some values are not valid; see errors.",
            errors_=flatten_errors(exc.detail),
        )
    else:
        body = problem(status=status, code=code, title=title, detail=str(exc.detail))
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        request, view = context.get("request"), context.get("view")
        auth_header = view.get_authenticate_header(request) if view and request else None
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        else:  # DRF's rule: without a challenge to offer, it is a 403
            status = body["status"] = 403
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(int(exc.wait))
    return body, status, headers


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    exc = _normalise(exc)
    if isinstance(exc, errors.ApplicationError):
        body = problem(
            status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, errors_=exc.errors, extra=exc.extra
        )
        status = exc.status
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    elif isinstance(exc, drf_exceptions.APIException):
        body, status, headers = _drf_problem(exc, context)
    else:
        return None  # unexpected: Django's 500 handler answers without internals
    set_rollback()
    return Response(body, status=status, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def problem_response(request: HttpRequest | None, status: int, code: str, title: str, detail: str) -> JsonResponse:
    return JsonResponse(
        problem(status=status, code=code, title=title, detail=detail),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> JsonResponse:
    """django-axes calls this when a username or an address is locked out."""
    return problem_response(
        request,
        429,
        "locked_out",
        "Too many failed logins",
        "Too many failed login attempts. Try again later or ask a clinic administrator.",
    )


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found_view(request: HttpRequest, exception: Exception | None = None):
    if _is_api(request):
        return problem_response(request, 404, "not_found", "Not found", "No such resource.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def server_error_view(request: HttpRequest):
    if _is_api(request):
        return problem_response(
            request,
            500,
            "server_error",
            "Server error",
            "Something went wrong on our side. The error has been logged; quote the request id.",
        )
    from django.views.defaults import server_error

    return server_error(request)


def csrf_failure_view(request: HttpRequest, reason: str = ""):
    if _is_api(request):
        return problem_response(request, 403, "csrf_failed", "Forbidden", "CSRF verification failed.")
    from django.views.csrf import csrf_failure

    return csrf_failure(request, reason)
