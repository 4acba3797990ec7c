"""API token authentication: ``Authorization: Bearer <token>``.

Tokens come from django-rest-knox: random, stored only as a hash, expiring, and revoked by
deleting the row. Knox's stock check also sweeps the user's other expired tokens on every
request (one more query each time); here only the presented token is checked and a beat task
purges the rest (``clinic.tasks.purge_expired_auth_tokens``), so authenticating costs one query.
"""

from django.utils import timezone
from knox.auth import TokenAuthentication


class BearerTokenAuthentication(TokenAuthentication):
    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False
