"""Django's PostgreSQL backend, with the connection health check skipped for a connection that
answered a moment ago, and psycopg's compiled timestamptz loader (``loaders``).

With persistent connections (``CONN_MAX_AGE``) Django checks a reused connection before a
request's first query (``CONN_HEALTH_CHECKS``): a ``SELECT 1``, one more round trip for every
request. Under load a gunicorn worker's connection answered its previous request milliseconds
earlier, so the check almost never finds anything; PgBouncer skips its own check for the same
reason (``server_check_delay``). Here the check is skipped only when the connection's last query
started less than ``HEALTH_CHECK_DELAY`` seconds ago and the request that sent it ended without a
database error. A request that used the connection early and then spent a while on something
else (an SMTP server, say) leaves it checked again.

What is given up: a connection the server (or anything between) drops inside that second fails
the one request that next uses it (an error, never a wrong answer); Django then closes the
connection at the end of that request (``errors_occurred``), as it does without health checks.
"""

import datetime as dt
import time

from django.db.backends.postgresql import base

from .loaders import utc_context

HEALTH_CHECK_DELAY = 1.0  # seconds


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._queried_at: float | None = None  # the last cursor's creation since a request boundary
        self._answered_at = float("-inf")  # when a query last started that ended without error

    def get_connection_params(self):
        params = super().get_connection_params()
        if "context" in params and self.timezone == dt.UTC:
            params["context"] = utc_context(params["context"])
        return params

    def create_cursor(self, name=None):
        self._queried_at = time.monotonic()  # every query makes a cursor: its start, near enough
        return super().create_cursor(name)

    def close_if_unusable_or_obsolete(self):
        # Called when a request starts and when it finishes. Django closes here a connection that
        # failed (errors_occurred and not usable) or outlived CONN_MAX_AGE.
        super().close_if_unusable_or_obsolete()
        queried_at, self._queried_at = self._queried_at, None
        if self.connection is None:
            return
        if queried_at is not None and not self.errors_occurred:
            self._answered_at = queried_at
        if time.monotonic() - self._answered_at < HEALTH_CHECK_DELAY:
            self.health_check_done = True
