"""Django's PostgreSQL backend, with the connection health check skipped for a connection that
answered a moment ago.

With persistent connections (``CONN_MAX_AGE``) Django checks a reused connection before a
request's first query (``CONN_HEALTH_CHECKS``): a ``SELECT 1``, one more round trip for every
request. Under load a gunicorn worker's connection answered its previous request milliseconds
earlier, so the check almost never finds anything; PgBouncer skips its own check for the same
reason (``server_check_delay``). Here the check runs only when the connection has been idle for
``HEALTH_CHECK_DELAY`` seconds or more, or when the previous request did not use it.

What is given up: a server that restarts inside that second fails the one request that next uses
the connection (an error, never a wrong answer); Django then closes the connection at the end of
that request (``errors_occurred``), as it does without health checks.
"""

import time

from django.db.backends.postgresql import base

HEALTH_CHECK_DELAY = 1.0  # seconds


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._used = False  # a cursor was made since the last request boundary
        self._answered_at = float("-inf")  # when a request last used the connection without error

    def create_cursor(self, name=None):
        self._used = True
        return super().create_cursor(name)

    def close_if_unusable_or_obsolete(self):
        # Called when a request starts and when it finishes. Django closes here a connection that
        # failed (errors_occurred and not usable) or outlived CONN_MAX_AGE.
        super().close_if_unusable_or_obsolete()
        if self.connection is None:
            self._used = False
            return
        now = time.monotonic()
        if self._used and not self.errors_occurred:
            self._answered_at = now
        self._used = False
        if now - self._answered_at < HEALTH_CHECK_DELAY:
            self.health_check_done = True
