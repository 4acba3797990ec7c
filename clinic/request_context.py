"""Per-request context: a request id and the client address, for responses, logs and audit rows.

The middleware accepts a well-formed ``X-Request-ID`` from a proxy (or makes one), echoes it on
every response, and keeps it in a context variable so log lines and audit events carry it
without passing the request around.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from django.conf import settings
from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
client_address_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("client_address", default=None)


def client_address(request: HttpRequest) -> str | None:
    """The client's IP: the socket peer, or the entry TRUSTED_PROXY_COUNT hops back in X-Forwarded-For.

    Only proxies we run may set the address, so a client cannot spoof it (and with it dodge the
    login lockout) by sending its own X-Forwarded-For.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        id_token = request_id_var.set(request_id)
        address_token = client_address_var.set(client_address(request))
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(id_token)
            client_address_var.reset(address_token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class RequestIdLogFilter(logging.Filter):
    """Adds ``request_id`` to every record so the formatter can print it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True
