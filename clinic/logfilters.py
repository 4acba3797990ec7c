"""Logging filters that keep secrets in URLs out of log lines.

A patient link carries its token in the path (``/forms/<token>/``, and the JSON API's
``/api/v1/forms/<token>/...``). Web server access logs (``django.server`` under runserver,
``gunicorn.access``) and Django's request logger (``django.request``, ``django.security.*``)
print paths, so anyone who can read the logs could open the patient's forms.
``LinkTokenRedactionFilter`` rewrites every such path to ``/forms/[link]`` in the formatted
message before any handler sees it. It is attached to those loggers and to the console handler
in ``config/settings/base.py``.
"""

from __future__ import annotations

import logging
import re

# The path segment after /forms/ (the patient pages and the API's /api/v1/forms/), except the
# token-free pages under /forms/session/ and static files (/static/forms/forms.css: tokens are
# URL-safe base64 and never contain a dot).
_TOKEN_PATH_RE = re.compile(r"(?<!/static)/forms/(?!session(?:[/?#\s\"']|$))(?!\[link\])(?![^/\s?#\"']*\.)[^/\s?#\"']+")
REDACTED = "/forms/[link]"


def redact_link_tokens(text: str) -> str:
    return _TOKEN_PATH_RE.sub(REDACTED, text)


class LinkTokenRedactionFilter(logging.Filter):
    """Replace link tokens in the record's message (and its string arguments) with ``[link]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to the handler to report
            return True
        redacted = redact_link_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        # gunicorn's access formatter may also read the request line from the atoms dict.
        if isinstance(record.args, dict):
            record.args = {k: redact_link_tokens(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True
