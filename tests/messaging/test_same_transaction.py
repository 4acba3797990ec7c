"""Outbox rows are written in the transaction of the change that causes them: a booking, a series or a
discharge that is refused leaves no message behind, even when it is refused after its messages were
already written (a later occurrence of a series, or a failure in the last step of the service)."""

from __future__ import annotations

import datetime as dt

import pytest

from clinic.errors import RuleViolation
from clinic.models import OutboundMessage
from intake.models import FormInvitation
from scheduling import protocols
from scheduling.models import Course, Session
from scheduling.services import booking
from scheduling.services.booking import BookingRefused
from tests.messaging.helpers import Kind, desk
from tests.monitoring.conftest import at, ward  # noqa: F401 - the monitoring tests' fixture
from tests.monitoring.test_session_flow import DISCHARGE, dose, open_record, vitals
from tests.scheduling.helpers import NY, book, local


@pytest.fixture
def written(monkeypatch) -> list[int]:
    """After each session's rows (event, audit row, messages) are written, how many outbox rows the
    transaction holds."""
    counts: list[int] = []
    real = booking.insert_rows

    def spy(*groups, **options) -> None:
        real(*groups, **options)
        counts.append(OutboundMessage.objects.count())

    monkeypatch.setattr(booking, "insert_rows", spy)
    return counts


def test_a_refused_booking_leaves_no_message(world, written):
    taken = book(world.front_desk, world.new_patient(), world.iv, local(2027, 3, 5, 10))
    assert taken.status_code == 201, taken.content
    before = set(OutboundMessage.objects.values_list("pk", flat=True))
    assert len(before) == 3

    refused = book(world.front_desk, world.patient, world.iv, local(2027, 3, 5, 10))  # the only chair is taken
    assert refused.status_code == 409, refused.content
    assert set(OutboundMessage.objects.values_list("pk", flat=True)) == before
    assert not OutboundMessage.objects.filter(patient=world.patient).exists()


def test_a_booking_that_fails_after_its_messages_were_written_leaves_none(world, written, monkeypatch):
    real = booking.insert_rows

    def then_refuse(*groups, **options) -> None:
        real(*groups)  # not as the transaction's last statement: something follows it here
        assert OutboundMessage.objects.exists()  # the messages were written before the refusal
        raise BookingRefused("Refused at the last step.", code="room_unavailable")

    monkeypatch.setattr(booking, "insert_rows", then_refuse)
    refused = book(world.front_desk, world.patient, world.iv, local(2027, 3, 5, 10))
    assert refused.status_code == 409, refused.content
    assert not OutboundMessage.objects.exists()
    assert not Session.objects.exists()


def test_a_series_refused_at_a_later_occurrence_leaves_no_message(world, written):
    first = local(2027, 3, 8, 10)
    occurrences = protocols.expand(
        protocols.get_protocol("iv-induction"), first_date=first.date(), time_of_day=first.time(), tz=NY
    )
    blocker = book(world.front_desk, world.new_patient(), world.iv, occurrences[2])  # the third one's chair
    assert blocker.status_code == 201, blocker.content
    before = set(OutboundMessage.objects.values_list("pk", flat=True))

    response = desk(world).post(
        "/api/v1/series/",
        {
            "patient": world.patient.pk,
            "treatment_type": world.iv.pk,
            "protocol": "iv-induction",
            "first_start": first.isoformat(),
        },
        format="json",
    )
    assert response.status_code == 409, response.content
    assert [c["sequence"] for c in response.json()["conflicts"]] == [3]
    # Sessions 1, 2, 4, 5 and 6 had their reminders written before the refusal...
    assert written[1:] and all(count > len(before) for count in written[1:])
    # ...and the refusal took them back with the course.
    assert set(OutboundMessage.objects.values_list("pk", flat=True)) == before
    assert not Course.objects.exists()


def _dosed_record(ward) -> int:  # noqa: F811 - the fixture imported above
    session = ward.session()
    ward.clock.move_to(at(9))
    record_id = open_record(ward, session)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=72, spo2=98)
    ward.clock.move_to(at(9, 10))
    assert dose(ward, record_id).status_code == 201
    ward.clock.move_to(at(11, 15))
    vitals(ward, record_id, systolic=122, diastolic=80, heart_rate=72, spo2=98)
    return record_id


def _survey_rows():
    return OutboundMessage.objects.filter(kind__in=[Kind.SURVEY_INVITATION, Kind.SURVEY_REMINDER])


def test_a_refused_discharge_leaves_no_survey(ward):  # noqa: F811
    record_id = _dosed_record(ward)
    refused = ward.nurse_client.post(
        f"/api/v1/monitoring/{record_id}/discharge/", {**DISCHARGE, "able_to_walk": False}, format="json"
    )
    assert refused.status_code == 422, refused.content
    assert not _survey_rows().exists()
    assert not FormInvitation.objects.filter(purpose=FormInvitation.Purpose.SURVEY).exists()


def test_a_discharge_that_fails_after_the_survey_was_written_leaves_none(ward, monkeypatch):  # noqa: F811
    from monitoring.services import discharge as discharge_service

    record_id = _dosed_record(ward)
    seen: list[int] = []

    def failing_audit(*args, **kwargs) -> None:
        seen.append(_survey_rows().count())
        raise RuleViolation("Refused at the last step.", code="rule_violation")

    monkeypatch.setattr(discharge_service, "audit", failing_audit)
    refused = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/discharge/", DISCHARGE, format="json")
    assert refused.status_code == 422, refused.content
    assert seen == [4]  # the invitation and its three reminders were written, in the discharge's transaction
    assert not _survey_rows().exists()
    assert not FormInvitation.objects.filter(purpose=FormInvitation.Purpose.SURVEY).exists()
    assert Session.objects.get().status == Session.Status.IN_PROGRESS

    monkeypatch.undo()
    ward.clock.move_to(at(11, 16) + dt.timedelta(seconds=1))
    done = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/discharge/", DISCHARGE, format="json")
    assert done.status_code == 201, done.content
    assert _survey_rows().count() == 4
