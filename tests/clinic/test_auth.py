"""Logging in and out: expiring tokens, revocation, lockout, password rules, ``me``."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework.test import APIClient

from clinic.access import Role
from clinic.models import AuditEvent
from clinic.tasks import purge_expired_auth_tokens
from tests.factories.clinic import TEST_PASSWORD, StaffMemberFactory

TOKEN_URL = "/api/v1/auth/token/"


def login(client: APIClient, username: str, password: str = TEST_PASSWORD, address: str = "10.0.0.1"):
    return client.post(TOKEN_URL, {"username": username, "password": password}, format="json", REMOTE_ADDR=address)


@pytest.fixture
def member(clinic):
    return StaffMemberFactory(clinic=clinic, roles=[Role.NURSE, Role.PRESCRIBER])


def test_login_returns_an_expiring_token_that_authenticates(api_client, member):
    response = login(api_client, member.user.username)
    assert response.status_code == 200
    body = response.json()
    expires_at = dt.datetime.fromisoformat(body["expires_at"])
    assert expires_at - timezone.now() == pytest.approx(settings.REST_KNOX["TOKEN_TTL"], abs=dt.timedelta(seconds=30))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    me = api_client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["username"] == member.user.username


def test_token_is_stored_only_as_a_hash(api_client, member):
    token = login(api_client, member.user.username).json()["token"]
    stored = AuthToken.objects.get(user=member.user)
    assert token not in (stored.digest, stored.token_key)
    assert stored.token_key == token[: len(stored.token_key)]


def test_token_stops_working_after_expiry(api_client, member):
    token = login(api_client, member.user.username).json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    with time_machine.travel(timezone.now() + settings.REST_KNOX["TOKEN_TTL"] - dt.timedelta(minutes=1)):
        assert api_client.get("/api/v1/me/").status_code == 200
    with time_machine.travel(timezone.now() + settings.REST_KNOX["TOKEN_TTL"] + dt.timedelta(minutes=1)):
        response = api_client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert not AuthToken.objects.filter(user=member.user).exists()


def test_logout_revokes_only_that_token(member):
    first, second = APIClient(), APIClient()
    for client in (first, second):
        token = login(client, member.user.username).json()["token"]
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert first.post("/api/v1/auth/logout/").status_code == 204
    assert first.get("/api/v1/me/").status_code == 401
    assert second.get("/api/v1/me/").status_code == 200
    assert AuditEvent.objects.filter(actor=member.user, action=AuditEvent.Action.LOGOUT).count() == 1


def test_wrong_password_is_401_and_audited_without_the_username(api_client, member):
    response = login(api_client, member.user.username, password="not-the-password")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"] == "Bearer"
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN_FAILED)
    assert event.actor is None and event.object_id == ""


def test_repeated_failures_lock_out_the_username_from_any_address(api_client, member):
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(api_client, member.user.username, "wrong", address=f"10.0.1.{attempt}").status_code == 401
    # The failure that reaches the limit is answered with the lockout itself.
    assert login(api_client, member.user.username, "wrong", address="10.0.1.99").status_code == 429
    # Even the right password from a fresh address is refused while the lockout lasts.
    response = login(api_client, member.user.username, address="10.0.2.1")
    assert response.status_code == 429
    assert response.json()["code"] == "locked_out"
    # ...until the cool-off has passed.
    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + dt.timedelta(minutes=1)):
        assert login(api_client, member.user.username, address="10.0.2.1").status_code == 200


def test_repeated_failures_lock_out_the_address_for_every_username(api_client, clinic, member):
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(api_client, f"guess{attempt}", "wrong", address="10.9.9.9").status_code == 401
    assert login(api_client, "guess-last", "wrong", address="10.9.9.9").status_code == 429
    assert login(api_client, member.user.username, address="10.9.9.9").status_code == 429
    assert login(api_client, member.user.username, address="10.9.9.10").status_code == 200


def test_forwarded_for_is_ignored_unless_a_proxy_is_trusted(api_client, member, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        api_client.post(
            TOKEN_URL,
            {"username": f"guess{attempt}", "password": "x"},
            format="json",
            REMOTE_ADDR="10.7.7.7",
            HTTP_X_FORWARDED_FOR=f"192.168.0.{attempt}",
        )
    # The spoofed header did not spread the failures over many addresses.
    assert login(api_client, member.user.username, address="10.7.7.7").status_code == 429


def test_inactive_user_cannot_log_in(api_client, member):
    member.user.is_active = False
    member.user.save()
    assert login(api_client, member.user.username).status_code == 401


def test_login_body_is_validated(api_client):
    response = api_client.post(TOKEN_URL, {"username": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"password": ["This field is required."]}


def test_me_lists_each_clinic_and_role(member, client_for, other_clinic):
    StaffMemberFactory(clinic=other_clinic, user=member.user, roles=[Role.FRONT_DESK])
    body = client_for(member).get("/api/v1/me/").json()
    assert body["memberships"] == sorted(
        [
            {"clinic": member.clinic_id, "clinic_name": member.clinic.name, "role": "nurse"},
            {"clinic": member.clinic_id, "clinic_name": member.clinic.name, "role": "prescriber"},
            {"clinic": other_clinic.pk, "clinic_name": other_clinic.name, "role": "front_desk"},
        ],
        key=lambda m: (m["clinic"], m["role"]),
    )


def test_me_and_logout_need_authentication(api_client):
    assert api_client.get("/api/v1/me/").status_code == 401
    assert api_client.post("/api/v1/auth/logout/").status_code == 401


def test_staff_passwords_go_through_django_validators(clinic, make_staff, client_for):
    admin = make_staff(clinic, Role.CLINIC_ADMIN)
    response = client_for(admin).post(
        "/api/v1/staff/",
        {"clinic": clinic.pk, "username": "weak.one", "password": "password", "roles": ["nurse"]},
        format="json",
    )
    assert response.status_code == 400
    messages = response.json()["errors"]["password"]
    assert any("too short" in m for m in messages)
    assert any("too common" in m for m in messages)


def test_purge_task_deletes_only_expired_tokens(member):
    AuthToken.objects.create(user=member.user, expiry=dt.timedelta(hours=1))
    expired, _ = AuthToken.objects.create(user=member.user, expiry=dt.timedelta(hours=1))
    AuthToken.objects.filter(pk=expired.pk).update(expiry=timezone.now() - dt.timedelta(minutes=1))
    assert purge_expired_auth_tokens() == 1
    assert AuthToken.objects.filter(user=member.user).count() == 1


def test_session_login_page_serves_the_browsable_api(client, member):
    login_url = "/api/v1/auth/session/login/"
    assert client.get(login_url).status_code == 200
    response = client.post(login_url, {"username": member.user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302
    response = client.get("/api/v1/rooms/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"<html" in response.content.lower()


@pytest.mark.postgres
def test_the_token_lookup_loads_what_the_orm_would_in_one_query(
    api_client, member, other_clinic, django_assert_num_queries
):
    """The lookup is hand-written SQL on PostgreSQL: the user it builds must be the ORM's, field for
    field, with every active membership (and none of an inactive membership or clinic)."""
    from clinic.authentication import BearerTokenAuthentication
    from clinic.models import User

    StaffMemberFactory(clinic=other_clinic, user=member.user, roles=[Role.FRONT_DESK])
    in_closed_clinic = StaffMemberFactory(user=member.user, roles=[Role.CLINIC_ADMIN])
    in_closed_clinic.clinic.active = False
    in_closed_clinic.clinic.save()
    StaffMemberFactory(user=member.user, roles=[Role.NURSE], active=False)
    token = login(api_client, member.user.username).json()["token"]

    with django_assert_num_queries(1):
        user, auth_token = BearerTokenAuthentication().authenticate_credentials(token.encode())
    expected = User.objects.get(pk=member.user.pk)
    fields = [f.attname for f in User._meta.concrete_fields]
    assert [getattr(user, f) for f in fields] == [getattr(expected, f) for f in fields]
    stored = AuthToken.objects.get(pk=auth_token.pk)
    assert (auth_token.user_id, auth_token.expiry, auth_token.created) == (user.pk, stored.expiry, stored.created)
    assert auth_token.user is user and not user._state.adding and user._state.db == "default"
    actor = user._clinic_actor
    assert {cid: sorted(m.roles) for cid, m in actor.memberships.items()} == {
        member.clinic_id: ["nurse", "prescriber"],
        other_clinic.pk: ["front_desk"],
    }
    assert actor.memberships[member.clinic_id].staff_member_id == member.pk


def test_a_token_whose_secret_does_not_match_is_refused(api_client, member):
    """Same key prefix, different secret: the digest comparison refuses it."""
    token = login(api_client, member.user.username).json()["token"]
    prefix = token[: CONSTANTS.TOKEN_KEY_LENGTH]
    forged = prefix + "".join("a" if c != "a" else "b" for c in token[len(prefix) :])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert api_client.get("/api/v1/me/").status_code == 401


@pytest.mark.postgres
def test_the_token_lookup_applies_a_fields_converter_as_the_orm_does(api_client, member, monkeypatch):
    """No user column has a ``from_db_value`` today; one added later must load as the ORM loads it."""
    from clinic import authentication
    from clinic.models import User

    member.user.first_name = "robin"
    member.user.save()
    token = login(api_client, member.user.username).json()["token"]
    field = User._meta.get_field("first_name")
    monkeypatch.setattr(field, "from_db_value", lambda value, expression, connection: value.upper(), raising=False)
    authentication._USER._converters.clear()
    try:
        user, _ = authentication.BearerTokenAuthentication().authenticate_credentials(token.encode())
    finally:
        monkeypatch.undo()
        authentication._USER._converters.clear()
    assert user.first_name == "ROBIN"
