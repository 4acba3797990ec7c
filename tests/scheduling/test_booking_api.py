"""Booking over HTTP: every refusal code in the contract's order, assignment, idempotency, roles."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from clinic.access import Role
from clinic.models import AuditEvent
from scheduling.models import Session, SessionEvent
from tests.factories.clinic import ClosureFactory, PatientFactory, RoomFactory
from tests.factories.scheduling import ClinicianFactory, SessionFactory, TimeOffFactory
from tests.scheduling.helpers import approve, book, local


def test_book_assigns_room_and_clinician_and_answers_in_local_time(world):
    response = book(world.front_desk, world, world.iv, local(2027, 3, 2, 10))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["start"] == "2027-03-02T10:00:00-05:00"
    assert body["end"] == "2027-03-02T11:40:00-05:00"
    assert body["occupied_until"] == "2027-03-02T11:55:00-05:00"
    assert (body["room"], body["clinician"], body["status"]) == (world.room.pk, world.nurse.pk, "booked")
    session = Session.objects.get()
    assert SessionEvent.objects.get(session=session).kind == "booked"
    assert AuditEvent.objects.filter(object_type="session", action="create", patient=world.patient).exists()


def test_start_without_offset_is_refused(world):
    response = world.front_desk.post(
        "/api/v1/sessions/",
        {"patient": world.patient.pk, "treatment_type": world.iv.pk, "start": "2027-03-02T10:00:00"},
        format="json",
    )
    assert response.status_code == 400
    assert "UTC offset" in response.json()["errors"]["start"][0]


# --- each refusal, in the contract's order -------------------------------------------------------


def test_archived_patient_is_refused_first(world):
    world.patient.archived_at = timezone.now()
    world.patient.save()
    # Also in the past: the archived refusal still comes first.
    response = book(world.front_desk, world, world.iv, local(2027, 2, 1, 10))
    assert response.status_code == 409
    assert response.json()["code"] == "patient_archived"


@pytest.mark.parametrize(
    "setup",
    ["never_approved", "other_modality", "expires_before_session"],
)
def test_candidacy_not_approved(world, setup):
    patient = PatientFactory(clinic=world.clinic, rems_patient_id="R")
    if setup == "other_modality":
        approve(patient, "esketamine_nasal")
    elif setup == "expires_before_session":
        approve(patient, until=local(2027, 3, 3, 0))
    response = book(world.front_desk, patient, world.iv, local(2027, 3, 4, 10))
    assert response.status_code == 422
    assert response.json()["code"] == "candidacy_not_approved"


def test_esketamine_needs_a_rems_patient_id(world):
    world.patient.rems_patient_id = ""
    world.patient.save()
    response = book(world.front_desk, world, world.esketamine, local(2027, 3, 2, 10))
    assert response.status_code == 422
    assert response.json()["code"] == "rems_enrollment_missing"
    assert book(world.front_desk, world, world.iv, local(2027, 3, 2, 10)).status_code == 201


@pytest.mark.parametrize(
    "start",
    [
        local(2027, 3, 1, 11),  # an hour ago
        local(2027, 3, 2, 7, 45),  # before opening
        local(2027, 3, 2, 18, 45),  # would end at 20:15, after closing
    ],
)
def test_outside_hours(world, start):
    response = book(world.front_desk, world, world.iv, start)
    assert response.status_code == 409
    assert response.json()["code"] == "outside_hours"


def test_closure_day_is_outside_hours(world):
    ClosureFactory(clinic=world.clinic, starts_on=dt.date(2027, 3, 2), ends_on=dt.date(2027, 3, 2))
    assert book(world.front_desk, world, world.iv, local(2027, 3, 2, 10)).json()["code"] == "outside_hours"


def test_clinician_outside_their_window_or_on_leave_or_at_limit(world):
    part_timer = ClinicianFactory(clinic=world.clinic, windows=[(1, dt.time(13), dt.time(17))])  # Tuesdays 13-17
    refused = book(world.front_desk, world, world.iv, local(2027, 3, 2, 10), clinician=part_timer.pk)
    assert refused.json()["code"] == "clinician_unavailable"
    assert book(world.front_desk, world, world.iv, local(2027, 3, 2, 13), clinician=part_timer.pk).status_code == 201

    TimeOffFactory(staff_member=world.nurse, starts_at=local(2027, 3, 3, 0), ends_at=local(2027, 3, 4, 0))
    on_leave = book(world.front_desk, world, world.iv, local(2027, 3, 3, 10), clinician=world.nurse.pk)
    assert on_leave.json()["code"] == "clinician_unavailable"

    world.nurse.max_concurrent_sessions = 1
    world.nurse.save()
    RoomFactory(clinic=world.clinic, name="Chair 2")
    first = book(world.front_desk, world.new_patient(), world.iv, local(2027, 3, 5, 10), clinician=world.nurse.pk)
    assert first.status_code == 201
    at_limit = book(
        world.front_desk, world.new_patient(), world.iv, local(2027, 3, 5, 10, 30), clinician=world.nurse.pk
    )
    assert at_limit.json()["code"] == "clinician_unavailable"


def test_room_busy_unsuitable_or_in_turnover(world):
    assert book(world.front_desk, world.new_patient(), world.iv, local(2027, 3, 2, 10)).status_code == 201
    # 11:40 is the end of that session but inside its 15-minute turnover.
    turnover = book(world.front_desk, world.new_patient(), world.iv, local(2027, 3, 2, 11, 40), room=world.room.pk)
    assert turnover.json()["code"] == "room_unavailable"
    assert (
        book(world.front_desk, world.new_patient(), world.iv, local(2027, 3, 2, 11, 55), room=world.room.pk).status_code
        == 201
    )
    chair = RoomFactory(clinic=world.clinic, name="Spravato suite", modalities=["esketamine_nasal"])
    unsuitable = book(world.front_desk, world.new_patient(), world.iv, local(2027, 3, 3, 10), room=chair.pk)
    assert unsuitable.json()["code"] == "room_unavailable"


def test_patient_overlap_and_minimum_interval(world):
    RoomFactory(clinic=world.clinic, name="Chair 2")
    assert book(world.front_desk, world, world.iv, local(2027, 3, 2, 10)).status_code == 201
    overlapping = book(world.front_desk, world, world.iv, local(2027, 3, 2, 11))
    assert overlapping.json()["code"] == "patient_overlap"
    too_soon = book(world.front_desk, world, world.iv, local(2027, 3, 3, 9))  # 23 h after the start
    assert too_soon.json()["code"] == "patient_overlap"
    assert book(world.front_desk, world, world.iv, local(2027, 3, 3, 10)).status_code == 201  # exactly 24 h


def test_refusal_order_removing_one_violation_at_a_time(world):
    """A booking that breaks every rule at once; fixing one rule at a time reveals the next, in the
    issue's order: archived, candidacy, REMS, past start / outside hours, clinician, room, patient."""
    part_timer = ClinicianFactory(clinic=world.clinic, windows=[(1, dt.time(13), dt.time(17))])  # Tue 13-17
    iv_only = RoomFactory(clinic=world.clinic, name="IV bay", modalities=["iv_ketamine"])
    patient = PatientFactory(clinic=world.clinic, rems_patient_id="", archived_at=timezone.now())
    elsewhere = SessionFactory(  # the patient's own session, in another chair with another clinician
        clinic=world.clinic,
        patient=patient,
        treatment_type=world.esketamine,
        room=RoomFactory(clinic=world.clinic, name="Chair 2"),
        clinician=ClinicianFactory(clinic=world.clinic),
        starts_at=local(2027, 3, 2, 10),
    )
    request = {"start": local(2027, 3, 1, 9), "room": iv_only.pk, "clinician": part_timer.pk}  # 9:00 today: past

    def attempt():
        extra = {"room": request["room"], "clinician": request["clinician"]}
        return book(world.front_desk, patient, world.esketamine, request["start"], **extra)

    def unarchive():
        patient.archived_at = None
        patient.save()

    def approve_without_rems():
        approve(patient)
        patient.rems_patient_id = ""
        patient.save()

    def enrol():
        patient.rems_patient_id = "REMS-42"
        patient.save()

    def cancel_the_other_session():
        elsewhere.status = Session.Status.CANCELLED
        elsewhere.save()

    steps = [
        (None, 409, "patient_archived"),
        (unarchive, 422, "candidacy_not_approved"),
        (approve_without_rems, 422, "rems_enrollment_missing"),
        (enrol, 409, "outside_hours"),  # the start has passed
        (lambda: request.update(start=local(2027, 3, 2, 19)), 409, "outside_hours"),  # ends after 20:00
        (lambda: request.update(start=local(2027, 3, 2, 10)), 409, "clinician_unavailable"),
        (lambda: request.update(clinician=world.nurse.pk), 409, "room_unavailable"),  # IV-only room
        (lambda: request.update(room=world.room.pk), 409, "patient_overlap"),
    ]
    for fix, status, code in steps:
        if fix is not None:
            fix()
        response = attempt()
        assert (response.status_code, response.json()["code"]) == (status, code), (fix, response.content)
    assert not Session.objects.filter(patient=patient, treatment_type=world.esketamine, room=world.room).exists()
    cancel_the_other_session()
    assert attempt().status_code == 201


def test_refusals_change_nothing(world):
    before = Session.objects.count(), SessionEvent.objects.count(), AuditEvent.objects.filter(action="create").count()
    book(world.front_desk, world, world.iv, local(2027, 3, 2, 19))
    after = Session.objects.count(), SessionEvent.objects.count(), AuditEvent.objects.filter(action="create").count()
    assert before == after


# --- assignment -----------------------------------------------------------------------------------


def test_least_loaded_room_and_clinician_are_chosen(world):
    second_room = RoomFactory(clinic=world.clinic, name="Chair 2")
    second_nurse = ClinicianFactory(clinic=world.clinic)
    SessionFactory(
        clinic=world.clinic,
        room=world.room,
        clinician=world.nurse,
        treatment_type=world.iv,
        starts_at=local(2027, 3, 2, 8),
        ends_at=local(2027, 3, 2, 9, 30),
        occupied_until=local(2027, 3, 2, 9, 45),
    )
    body = book(world.front_desk, world, world.iv, local(2027, 3, 2, 14)).json()
    assert (body["room"], body["clinician"]) == (second_room.pk, second_nurse.pk)


@pytest.mark.parametrize("named", [False, True], ids=["chosen-by-the-service", "named-by-the-desk"])
def test_the_booking_answer_is_what_the_calendar_then_shows(world, named):
    """The 201 is rendered from the booking in hand, not read back: it must equal a fresh read."""
    world.nurse.user.first_name, world.nurse.user.last_name = "Ada", "Okafor"
    world.nurse.user.save()
    extra = {"room": world.room.pk, "clinician": world.nurse.pk} if named else {}
    created = book(world.front_desk, world, world.iv, local(2027, 3, 2, 10), **extra)
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["room_name"], body["clinician_name"]) == (world.room.name, "Ada Okafor")
    assert world.front_desk.get(f"/api/v1/sessions/{body['id']}/").json() == body


@pytest.mark.postgres
@pytest.mark.parametrize("named", [False, True], ids=["chosen-by-the-service", "named-by-the-desk"])
def test_a_booking_costs_a_fixed_handful_of_statements(world, named, django_assert_num_queries):
    """Inside the test's transaction: the token, SAVEPOINT, one statement string that locks and
    reads everything (patient, clinic, treatment type, the named clinician, the calendar
    context), the session with its event, audit row and messages in one statement, RELEASE: 5.
    A clinician chosen by the service is locked and recounted once chosen: 2 more. (On its own,
    as under gunicorn, the savepoint is the transaction and its BEGIN and COMMIT ride with the
    two statements: 3 round trips, the test below.)"""
    extra = {"room": world.room.pk, "clinician": world.nurse.pk} if named else {}
    with django_assert_num_queries(5 if named else 7):
        assert book(world.front_desk, world, world.iv, local(2027, 3, 2, 10), **extra).status_code == 201


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_its_own_a_booking_is_three_round_trips_and_commits_or_leaves_nothing(world, sent_commands):
    """Outside any caller's transaction (as under gunicorn): the token; BEGIN with every lock and
    read; the INSERT with COMMIT. psycopg sends no BEGIN or COMMIT of its own (clinic.db.folded).
    A refusal after the reads sends ROLLBACK and leaves nothing behind."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    sent = sent_commands
    start = local(2027, 3, 2, 10)
    named = {"room": world.room.pk, "clinician": world.nurse.pk}
    with CaptureQueriesContext(connection) as captured:
        assert book(world.front_desk, world, world.iv, start, **named).status_code == 201
    strings = [q["sql"] for q in captured.captured_queries if q["sql"] not in ("BEGIN", "COMMIT", "ROLLBACK")]
    assert len(strings) == 3 and sent == []
    assert strings[1].startswith("BEGIN;") and strings[2].endswith("COMMIT")
    assert Session.objects.filter(patient=world.patient).count() == 1
    assert SessionEvent.objects.filter(session__patient=world.patient).count() == 1

    other = approve(PatientFactory(clinic=world.clinic))
    with CaptureQueriesContext(connection) as captured:
        refused = book(world.front_desk, other, world.iv, start, **named)  # the chair is taken
    assert refused.status_code == 409 and sent == ["ROLLBACK"]
    assert not Session.objects.filter(patient=other).exists()
    assert not AuditEvent.objects.filter(patient_id=other.pk, object_type="session").exists()


def test_an_inactive_treatment_type_is_refused_by_the_service_too(world):
    from clinic.access import Actor
    from clinic.errors import InvalidInput
    from scheduling.services.booking import session_book

    world.iv.active = False
    world.iv.save()
    with pytest.raises(InvalidInput) as refused, transaction.atomic():
        session_book(
            actor=Actor.for_user(world.front_desk_member.user),
            patient=world.patient,
            treatment_type=world.iv,
            starts_at=local(2027, 3, 2, 10),
        )
    assert "treatment_type" in refused.value.errors
    assert not Session.objects.exists()


# --- idempotency ----------------------------------------------------------------------------------


def test_retry_with_the_same_key_books_once(world):
    first = book(world.front_desk, world, world.iv, local(2027, 3, 2, 10), idempotency_key="k-123")
    again = book(world.front_desk, world, world.iv, local(2027, 3, 2, 10), idempotency_key="k-123")
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["id"] == again.json()["id"]
    assert Session.objects.count() == 1


def test_same_key_for_a_different_request_is_refused(world):
    book(world.front_desk, world, world.iv, local(2027, 3, 2, 10), idempotency_key="k-1")
    other = book(world.front_desk, world, world.iv, local(2027, 3, 4, 10), idempotency_key="k-1")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


def test_a_failed_request_does_not_burn_its_key(world):
    refused = book(world.front_desk, world, world.iv, local(2027, 3, 2, 19), idempotency_key="k-9")
    assert refused.status_code == 409
    assert book(world.front_desk, world, world.iv, local(2027, 3, 2, 19), idempotency_key="k-9").status_code == 409


def test_keys_are_per_user(world, make_staff, client_for):
    other_desk = client_for(make_staff(world.clinic, Role.FRONT_DESK))
    book(world.front_desk, world, world.iv, local(2027, 3, 2, 10), idempotency_key="shared")
    second = book(other_desk, world.new_patient(), world.iv, local(2027, 3, 4, 10), idempotency_key="shared")
    assert second.status_code == 201


# --- roles ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "book_status", "read_status"),
    [
        (Role.FRONT_DESK, 201, 200),
        (Role.NURSE, 403, 200),
        (Role.PRESCRIBER, 403, 200),
        (Role.CLINIC_ADMIN, 403, 403),
    ],
)
def test_role_matrix(world, make_staff, client_for, role, book_status, read_status):
    client = client_for(make_staff(world.clinic, role))
    assert book(client, world, world.iv, local(2027, 3, 2, 10)).status_code == book_status
    assert client.get("/api/v1/sessions/").status_code == read_status


def test_other_clinic(world, other_clinic, make_staff, client_for, api_client):
    outsider = client_for(make_staff(other_clinic, Role.FRONT_DESK))
    refused = book(outsider, world, world.iv, local(2027, 3, 2, 10))
    assert refused.status_code == 404
    session = SessionFactory(
        clinic=world.clinic, treatment_type=world.iv, patient=world.patient, room=world.room, clinician=world.nurse
    )
    assert outsider.get(f"/api/v1/sessions/{session.pk}/").status_code == 404
    assert outsider.post(f"/api/v1/sessions/{session.pk}/cancel/", {"reason": "x"}, format="json").status_code == 404
    assert outsider.get("/api/v1/sessions/").json()["count"] == 0
    assert api_client.get("/api/v1/sessions/").status_code == 401


def test_treatment_type_of_another_clinic_is_refused(world, other_clinic):
    from tests.factories.scheduling import TreatmentTypeFactory

    foreign = TreatmentTypeFactory(clinic=other_clinic)
    assert book(world.front_desk, world, foreign, local(2027, 3, 2, 10)).status_code == 404


# --- the calendar ---------------------------------------------------------------------------------


def _fill(world, count: int) -> None:
    rooms = [RoomFactory(clinic=world.clinic) for _ in range(10)]
    nurses = [ClinicianFactory(clinic=world.clinic) for _ in range(5)]
    patients = [PatientFactory(clinic=world.clinic) for _ in range(20)]
    for i in range(count):
        day, slot = divmod(i, 100)
        start = local(2027, 3, 8 + day % 5, 8) + dt.timedelta(minutes=(slot // 10) * 105)
        SessionFactory(
            clinic=world.clinic,
            treatment_type=world.iv,
            room=rooms[slot % 10],
            clinician=nurses[slot % 5],
            patient=patients[i % 20],
            starts_at=start,
            ends_at=start + dt.timedelta(minutes=90),
            occupied_until=start + dt.timedelta(minutes=105),
        )


@pytest.mark.parametrize("count", [50, 500])
def test_week_view_costs_the_same_queries_at_50_and_500_sessions(world, count, django_assert_max_num_queries):
    _fill(world, count)
    query = "start=2027-03-08T00:00:00-05:00&end=2027-03-15T00:00:00-05:00&page_size=200"
    # token, memberships, count, page, one audit INSERT for the patients shown
    with django_assert_max_num_queries(5):
        response = world.front_desk.get(f"/api/v1/sessions/?{query}")
    assert response.json()["count"] == count


def test_calendar_filters(world):
    other_room = RoomFactory(clinic=world.clinic, name="Chair 2")
    mine = SessionFactory(
        clinic=world.clinic,
        treatment_type=world.iv,
        room=world.room,
        clinician=world.nurse,
        starts_at=local(2027, 3, 2, 10),
        ends_at=local(2027, 3, 2, 11, 30),
        occupied_until=local(2027, 3, 2, 11, 45),
    )
    theirs = SessionFactory(
        clinic=world.clinic,
        treatment_type=world.iv,
        room=other_room,
        clinician=world.nurse,
        starts_at=local(2027, 3, 9, 10),
        ends_at=local(2027, 3, 9, 11, 30),
        occupied_until=local(2027, 3, 9, 11, 45),
    )
    second_nurse = ClinicianFactory(clinic=world.clinic)
    with_second_nurse = SessionFactory(
        clinic=world.clinic,
        patient=mine.patient,
        treatment_type=world.iv,
        room=other_room,
        clinician=second_nurse,
        starts_at=local(2027, 3, 12, 10),
    )

    def ids(query):
        return [row["id"] for row in world.front_desk.get(f"/api/v1/sessions/?{query}").json()["results"]]

    assert ids(f"room={world.room.pk}") == [mine.pk]
    assert ids("start=2027-03-02T00:00:00-05:00&end=2027-03-03T00:00:00-05:00") == [mine.pk]
    assert ids("status=cancelled") == []
    assert ids(f"clinician={world.nurse.pk}") == [mine.pk, theirs.pk]
    assert ids(f"clinician={second_nurse.pk}") == [with_second_nurse.pk]
    assert ids(f"patient={mine.patient_id}") == [mine.pk, with_second_nurse.pk]
    assert ids(f"patient={theirs.patient_id}") == [theirs.pk]
    assert ids(f"patient={mine.patient_id}&clinician={world.nurse.pk}") == [mine.pk]
    assert world.front_desk.get("/api/v1/sessions/?clinician=x").status_code == 400
    assert world.front_desk.get("/api/v1/sessions/?start=garbage").status_code == 400


def test_calendar_filters_with_another_clinics_ids_find_nothing_of_either_clinic(
    world, other_clinic, make_staff, client_for
):
    """The calendar is scoped to the caller's clinics before any filter applies, so naming another
    clinic's clinician, patient or room narrows to nothing: an empty page, not a 404 that would
    confirm the id exists, and never the other clinic's sessions."""
    ours = SessionFactory(
        clinic=world.clinic, patient=world.patient, treatment_type=world.iv, room=world.room, clinician=world.nurse
    )
    theirs = SessionFactory(clinic=other_clinic)

    def page(client, query):
        response = client.get(f"/api/v1/sessions/?{query}")
        assert response.status_code == 200, response.content
        return response.json()

    foreign = {
        "clinician": theirs.clinician_id,
        "patient": theirs.patient_id,
        "room": theirs.room_id,
        "clinic": other_clinic.pk,
    }
    for field, value in foreign.items():
        assert page(world.front_desk, f"{field}={value}") == {"count": 0, "next": None, "previous": None, "results": []}
    # Their own ids still find their own session: the empty answers above are the scoping, not the filter.
    assert [r["id"] for r in page(world.front_desk, f"clinician={world.nurse.pk}")["results"]] == [ours.pk]
    outsider = client_for(make_staff(other_clinic, Role.FRONT_DESK))
    assert [r["id"] for r in page(outsider, f"clinician={theirs.clinician_id}")["results"]] == [theirs.pk]
    for field, value in {"clinician": world.nurse.pk, "patient": world.patient.pk, "room": world.room.pk}.items():
        assert page(outsider, f"{field}={value}")["count"] == 0


@pytest.mark.parametrize("count", [50, 500])
@pytest.mark.parametrize("by", ["clinician", "patient", "clinician+patient"])
def test_filtered_calendar_costs_the_same_queries_at_50_and_500_sessions(
    world, count, by, django_assert_max_num_queries
):
    _fill(world, count)
    first = Session.objects.order_by("pk").first()
    filters = {}
    if "clinician" in by:
        filters["clinician"] = first.clinician_id
    if "patient" in by:
        filters["patient"] = first.patient_id
    expected = Session.objects.filter(**{f"{k}_id": v for k, v in filters.items()}).count()
    assert 0 < expected < count  # the filter narrows
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    with django_assert_max_num_queries(5):  # token, memberships, count, page, audit INSERT
        response = world.front_desk.get(f"/api/v1/sessions/?{query}&page_size=200")
    body = response.json()
    assert body["count"] == expected
    assert all(all(row[k] == v for k, v in filters.items()) for row in body["results"])
