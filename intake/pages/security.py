"""What every patient page sends and checks: strict headers, CSRF that survives ``no-referrer``, throttling.

Headers. ``Referrer-Policy: no-referrer`` keeps the link token out of the Referer of any request
the page makes; ``Cache-Control: no-store`` keeps answers out of shared and back/forward caches;
``X-Robots-Tag`` keeps links out of search engines; the Content-Security-Policy allows only this
origin (no inline script or style, no third-party request of any kind).

CSRF. Under ``Referrer-Policy: no-referrer`` browsers send ``Origin: null`` with every POST (Fetch
standard, "append a request Origin header") and no Referer, so Django's origin check (and, over
HTTPS, its Referer check) would refuse every form on these pages. The browser also sends
``Sec-Fetch-Site``, a header no page script can set, which says whether the request came from
this very origin. ``PatientPageCsrf`` therefore accepts ``Origin: null`` or a missing Referer only
when ``Sec-Fetch-Site: same-origin``, and keeps Django's token check (cookie + form field) for
every POST. That is the same guarantee as the origin check it replaces.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.csrf import logger as csrf_logger
from django.utils.decorators import decorator_from_middleware
from django.utils.log import log_response
from django.views.decorators.csrf import csrf_exempt

from clinic.request_context import client_address

logger = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def add_page_headers(response: HttpResponse) -> HttpResponse:
    for name, value in PAGE_HEADERS.items():
        response[name] = value
    return response


def _same_origin_fetch(request: HttpRequest) -> bool:
    return request.META.get("HTTP_SEC_FETCH_SITE") == "same-origin"


class PatientPageCsrf(CsrfViewMiddleware):
    """Django's CSRF check, accepting the ``Origin: null`` that ``no-referrer`` makes browsers send."""

    def _origin_verified(self, request: HttpRequest) -> bool:
        if request.META.get("HTTP_ORIGIN") == "null" and _same_origin_fetch(request):
            return True
        return super()._origin_verified(request)

    def _check_referer(self, request: HttpRequest) -> None:
        if "HTTP_REFERER" not in request.META and _same_origin_fetch(request):
            return
        super()._check_referer(request)

    def _reject(self, request: HttpRequest, reason: str) -> HttpResponse:
        """A page the patient can act on instead of Django's developer-facing CSRF failure page."""
        from .views import render_problem

        response = render_problem(request, "session_expired", status=403)
        # Django's own log line (the path goes through the link-token filter).
        log_response("Forbidden (%s): %s", reason, request.path, response=response, request=request, logger=csrf_logger)
        return response


_csrf_protect = decorator_from_middleware(PatientPageCsrf)


def patient_csrf(view: Callable) -> Callable:
    """Exempt from the site-wide CSRF middleware and apply ``PatientPageCsrf`` instead."""
    return csrf_exempt(_csrf_protect(view))


def page_headers(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return add_page_headers(view(request, *args, **kwargs))

    return wrapper


# --- throttling ------------------------------------------------------------------------------------

_RATE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _rate() -> tuple[int, int]:
    """The API's patient-link rate ("240/min"): the pages that take a token share its limit."""
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["patient_link"]
    count, period = rate.split("/")
    return int(count), _RATE_UNITS[period[0]]


def link_throttled(request: HttpRequest) -> bool:
    """Count a request that presents a link token; True once the client's budget is spent.

    A fixed window in the cache: cheap, shared by all workers, and enough to make guessing
    256-bit tokens pointless. Session pages are not counted: they need a redeemed link already.

    Fails open: with the cache (Redis) down, a patient can still open their link. The throttle
    only slows guessing of 256-bit tokens, which stay unguessable without it; a patient locked out
    of their forms by an outage is the worse failure. The warning names the error type only,
    never the path (it holds the token) or the client.
    """
    limit, period = _rate()
    key = f"patient-page-throttle:{client_address(request) or 'unknown'}"
    try:
        cache.add(key, 0, timeout=period)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=period)
            count = 1
    except Exception as exc:
        logger.warning("form_page.throttle_unavailable", extra={"error": type(exc).__name__})
        return False
    return count > limit
