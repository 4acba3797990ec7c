"""API token authentication: ``Authorization: Bearer <token>``.

Tokens come from django-rest-knox: random, stored only as a hash, expiring, and revoked by
deleting the row. Two changes to knox's stock check keep every request to one query: only the
presented token is checked for expiry (knox also sweeps the user's other tokens on every request;
here a beat task purges them, ``clinic.tasks.purge_expired_auth_tokens``), and on PostgreSQL the
user's active clinic memberships come back in the same query, so permission checks need no second
round trip.

Every API request runs this lookup, so on PostgreSQL it is one fixed SQL statement, written once
from the models' own table and column names, and the token and user are built with ``from_db``
as the ORM would: compiling the equivalent queryset (a join and a JSON subquery) cost more CPU
than the rest of a typical read. Elsewhere (SQLite, the embedded demo) the ORM does it.
"""

from hmac import compare_digest

import orjson
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework import exceptions

from .access import Actor
from .models import Clinic, StaffMember, User
from .prepared import ModelColumns, ServerStatement, execute_statements

_TOKEN, _USER = ModelColumns(AuthToken, "t"), ModelColumns(User, "u")


def _token_lookup_sql() -> str:
    """The token row, its user and the user's active memberships, by token key."""
    q = connection.ops.quote_name
    member, clinic = StaffMember._meta, Clinic._meta
    # Identifiers only, from the models' metadata and quoted; the token key is a parameter.
    return (
        "SELECT "  # noqa: S608
        + f"{_TOKEN.select_list(connection)}, {_USER.select_list(connection)}"
        + ", (SELECT jsonb_agg(jsonb_build_array(m.clinic_id, m.id, m.roles))"
        + f" FROM {q(member.db_table)} m JOIN {q(clinic.db_table)} c ON c.id = m.clinic_id"
        + " WHERE m.user_id = t.user_id AND m.active AND c.active)"
        + f" FROM {q(AuthToken._meta.db_table)} t JOIN {q(User._meta.db_table)} u ON u.id = t.user_id"
        + " WHERE t.token_key = %(key)s"
    )


# Every API request runs it: planned once per connection.
_TOKEN_LOOKUP = ServerStatement(_token_lookup_sql, {"key": "varchar"})


def _candidates_sql(token_key: str):
    """(auth_token with its user, membership rows) for each token with this key (PostgreSQL)."""
    with connection.cursor() as cursor:
        execute_statements(cursor, [_TOKEN_LOOKUP], {"key": token_key})
        rows = cursor.fetchall()
    n_token = len(_TOKEN)
    for row in rows:
        auth_token = _TOKEN.instance(row[:n_token], connection)
        auth_token.user = _USER.instance(row[n_token:-1], connection)
        memberships = row[-1]
        if isinstance(memberships, str):  # Django leaves jsonb undecoded on psycopg
            memberships = orjson.loads(memberships)
        yield auth_token, [tuple(m) for m in memberships or []]


def _candidates_orm(token_key: str):
    for auth_token in AuthToken.objects.filter(token_key=token_key).select_related("user"):
        yield auth_token, None


class BearerTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, token: bytes):
        message = _("Invalid token.")
        token = token.decode("utf-8")
        token_key = token[: CONSTANTS.TOKEN_KEY_LENGTH]
        candidates = _candidates_sql if connection.vendor == "postgresql" else _candidates_orm
        for auth_token, memberships in candidates(token_key):
            if self._cleanup_token(auth_token):
                continue
            if compare_digest(hash_token(token), auth_token.digest):
                user, _token = self.validate_user(auth_token)
                if memberships is not None:
                    Actor.from_rows(user, memberships)
                return user, auth_token
        raise exceptions.AuthenticationFailed(message)

    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False
