"""The outbox's delivery log over HTTP, and the stored ``Idempotency-Key`` claims.

The delivery log shows what was sent and how it went, never to whom or what it said; a stored
key replays the first result for the same request, refuses a different request under the same
key, belongs to one user, and is purged after its retention.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from clinic import idempotency
from clinic.access import Role
from clinic.errors import RuleViolation
from clinic.models import IdempotencyKey, OutboundMessage
from tests.factories.clinic import IdempotencyKeyFactory, OutboundMessageFactory, PatientFactory, UserFactory

# --- the delivery log -----------------------------------------------------------------------------


def test_delivery_log_shows_status_not_recipient_or_text(clinic, other_clinic, make_staff, client_for):
    patient = PatientFactory(clinic=clinic)
    sent = OutboundMessageFactory(
        clinic=clinic, patient=patient, status=OutboundMessage.Status.SENT, sent_at=timezone.now(), attempts=1
    )
    failed = OutboundMessageFactory(
        clinic=clinic, patient=patient, status=OutboundMessage.Status.FAILED, attempts=5, last_error="smtp_timeout"
    )
    OutboundMessageFactory(clinic=other_clinic)
    client = client_for(make_staff(clinic, Role.FRONT_DESK))

    body = client.get("/api/v1/notifications/").json()
    assert {row["id"] for row in body["results"]} == {sent.pk, failed.pk}
    assert all("recipient" not in row for row in body["results"])
    assert patient.email not in json.dumps(body)

    only_failed = client.get("/api/v1/notifications/?status=failed").json()["results"]
    assert [(row["id"], row["attempts"], row["last_error"]) for row in only_failed] == [(failed.pk, 5, "smtp_timeout")]


def test_delivery_log_refuses_anonymous_and_hides_other_clinics(
    clinic, other_clinic, make_staff, client_for, api_client
):
    OutboundMessageFactory(clinic=clinic)
    assert api_client.get("/api/v1/notifications/").status_code == 401
    outsider = client_for(make_staff(other_clinic, Role.CLINIC_ADMIN))
    assert outsider.get("/api/v1/notifications/").json()["count"] == 0


def test_an_outbox_row_is_unique_per_dedupe_key(clinic):
    first = OutboundMessageFactory(clinic=clinic)
    with pytest.raises(IntegrityError), transaction.atomic():
        OutboundMessageFactory(clinic=clinic, dedupe_key=first.dedupe_key)


# --- idempotency keys -------------------------------------------------------------------------------


def _request(user, body: dict, key: str, path: str = "/api/v1/sessions/") -> Request:
    raw = APIRequestFactory().post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    request = Request(raw, parsers=[JSONParser()])
    request.user = user
    return request


def _fingerprint(body: dict, path: str = "/api/v1/sessions/") -> str:
    return hashlib.sha256(f"POST {path}\n{json.dumps(body, sort_keys=True)}".encode()).hexdigest()


def test_a_stored_key_replays_the_same_request_and_refuses_a_different_one(db):
    body = {"patient": 1, "start": "2027-01-04T10:00:00-05:00"}
    stored = IdempotencyKeyFactory(key="retry-me", request_hash=_fingerprint(body), resource_ids=[41])

    claim = idempotency.begin(_request(stored.user, body, "retry-me"))
    assert claim.replay == stored
    assert claim.replay.resource_ids == [41]
    assert claim.row is None

    with pytest.raises(RuleViolation) as refused:
        idempotency.begin(_request(stored.user, {**body, "patient": 2}, "retry-me"))
    assert refused.value.code == "idempotency_key_reused"


def test_keys_belong_to_one_user(db):
    stored = IdempotencyKeyFactory(key="shared-name")
    someone_else = UserFactory()
    claim = idempotency.begin(_request(someone_else, {"a": 1}, "shared-name"))
    assert claim.replay is None and claim.row is not None  # a fresh claim of their own
    assert IdempotencyKey.objects.filter(key="shared-name").count() == 2
    with pytest.raises(IntegrityError), transaction.atomic():
        IdempotencyKeyFactory(user=stored.user, key="shared-name")


def test_old_keys_are_purged(db):
    now = timezone.now()
    old = IdempotencyKeyFactory(created_at=now - dt.timedelta(days=2))
    fresh = IdempotencyKeyFactory(created_at=now)
    assert idempotency.purge_older_than(now - dt.timedelta(days=1)) == 1
    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert not IdempotencyKey.objects.filter(pk=old.pk).exists()
