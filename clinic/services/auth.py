"""Logging in and out of the API: issuing and revoking bearer tokens.

Failed attempts are counted by django-axes, which locks out the username and, separately, the
client address after ``AXES_FAILURE_LIMIT`` failures (answered with 429).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.contrib.auth import authenticate
from django.db import transaction
from django.http import HttpRequest
from knox.models import AuthToken

from clinic.errors import ApplicationError, AuthenticationFailed
from clinic.models import AuditEvent, User

from .audit import audit_record

logger = logging.getLogger(__name__)


class LockedOut(ApplicationError):
    status = 429
    code = "locked_out"
    title = "Too many failed logins"
    default_detail = "Too many failed login attempts. Try again later or ask a clinic administrator."


def auth_token_issue(*, request: HttpRequest, username: str, password: str) -> tuple[str, dt.datetime]:
    """Check the credentials and return a new token and its expiry.

    Raises LockedOut (429) while axes holds a lockout, AuthenticationFailed (401) otherwise.
    """
    user = authenticate(request=request, username=username, password=password)
    if getattr(request, "axes_locked_out", False):
        logger.warning("auth.login.locked_out")
        raise LockedOut()
    if user is None or not user.is_active:
        with transaction.atomic():
            audit_record(
                actor=None,
                actor_kind=AuditEvent.ActorKind.ANONYMOUS,
                action=AuditEvent.Action.LOGIN_FAILED,
                object_type="user",
            )
        logger.info("auth.login.failed")
        raise AuthenticationFailed()
    with transaction.atomic():
        instance, token = AuthToken.objects.create(user=user)
        audit_record(actor=user, action=AuditEvent.Action.LOGIN, object_type="user", object_id=user.pk)
    logger.info("auth.login.succeeded", extra={"user_id": user.pk})
    return token, instance.expiry


def auth_token_revoke(*, user: User, token: AuthToken) -> None:
    with transaction.atomic():
        token.delete()
        audit_record(actor=user, action=AuditEvent.Action.LOGOUT, object_type="user", object_id=user.pk)
    logger.info("auth.logout", extra={"user_id": user.pk})


def auth_tokens_revoke_all(*, user: User) -> int:
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted


def auth_tokens_purge_expired() -> int:
    """Delete tokens past their expiry; authentication only checks the token it is shown."""
    from django.utils import timezone

    deleted, _ = AuthToken.objects.filter(expiry__lt=timezone.now()).delete()
    return deleted
