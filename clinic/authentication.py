"""API token authentication: ``Authorization: Bearer <token>``.

Tokens come from django-rest-knox: random, stored only as a hash, expiring, and revoked by
deleting the row. Two changes to knox's stock check keep every request to one query: only the
presented token is checked for expiry (knox also sweeps the user's other tokens on every request;
here a beat task purges them, ``clinic.tasks.purge_expired_auth_tokens``), and on PostgreSQL the
user's active clinic memberships come back in the same query, so permission checks need no second
round trip.
"""

from hmac import compare_digest

from django.contrib.postgres.aggregates import JSONBAgg
from django.db import connection
from django.db.models import OuterRef, Subquery
from django.db.models.functions import JSONObject
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework import exceptions

from .access import Actor
from .models import StaffMember


def _memberships_subquery() -> Subquery:
    rows = (
        StaffMember.objects.filter(user_id=OuterRef("user_id"), active=True, clinic__active=True)
        .order_by()
        .values("user_id")
        .annotate(rows=JSONBAgg(JSONObject(clinic="clinic_id", member="id", roles="roles")))
        .values("rows")
    )
    return Subquery(rows)


class BearerTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, token: bytes):
        message = _("Invalid token.")
        token = token.decode("utf-8")
        candidates = AuthToken.objects.filter(token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH]).select_related("user")
        with_memberships = connection.vendor == "postgresql"
        if with_memberships:
            candidates = candidates.annotate(clinic_memberships=_memberships_subquery())
        for auth_token in candidates:
            if self._cleanup_token(auth_token):
                continue
            if compare_digest(hash_token(token), auth_token.digest):
                user, _token = self.validate_user(auth_token)
                if with_memberships:
                    Actor.from_rows(
                        user, [(m["clinic"], m["member"], m["roles"]) for m in auth_token.clinic_memberships or []]
                    )
                return user, auth_token
        raise exceptions.AuthenticationFailed(message)

    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False
