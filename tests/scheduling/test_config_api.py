"""Treatment types, clinician availability, protocols and the availability search over HTTP."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from clinic.access import Role
from scheduling.models import AvailabilityWindow, TimeOff
from tests.factories.clinic import ClinicFactory, RoomFactory
from tests.factories.scheduling import ClinicianFactory, SessionFactory, TreatmentTypeFactory
from tests.scheduling.helpers import NY, book, local


@pytest.fixture
def admin(world, make_staff, client_for):
    return client_for(make_staff(world.clinic, Role.CLINIC_ADMIN))


# --- treatment types ------------------------------------------------------------------------------


def test_admin_creates_treatment_types_with_clinical_minimums(admin):
    ok = admin.post(
        "/api/v1/treatment-types/",
        {
            "name": "Spravato 84 mg",
            "modality": "esketamine_nasal",
            "duration_minutes": 140,
            "turnover_minutes": 15,
            "min_hours_between": 48,
        },
        format="json",
    )
    assert ok.status_code == 201, ok.content
    assert ok.json()["requires_rems_enrollment"] is True
    short = admin.post(
        "/api/v1/treatment-types/",
        {"name": "Too short", "modality": "esketamine_nasal", "duration_minutes": 90},
        format="json",
    )
    assert short.status_code == 400
    assert "2 hours" in short.json()["errors"]["duration_minutes"][0]
    no_rems = admin.post(
        "/api/v1/treatment-types/",
        {"name": "No REMS", "modality": "esketamine_nasal", "duration_minutes": 140, "requires_rems_enrollment": False},
        format="json",
    )
    assert no_rems.status_code == 400
    assert "requires_rems_enrollment" in no_rems.json()["errors"]


def test_iv_chair_time_covers_the_infusion_and_the_observation_after_it(admin):
    """CLINICAL.md: 0.5 mg/kg over 40 minutes, then observation; 40 + 60 minutes is the floor."""
    from monitoring.schedule import DEFAULT_CONFIGS
    from scheduling.models import IV_MIN_CHAIR_MINUTES, IV_MIN_OBSERVATION_MINUTES

    # The booking floor and the discharge floor monitoring enforces by default must not drift apart.
    assert DEFAULT_CONFIGS["iv_ketamine"].minimum_monitoring_minutes == IV_MIN_OBSERVATION_MINUTES
    assert IV_MIN_CHAIR_MINUTES == 100

    def create(minutes: int):
        return admin.post(
            "/api/v1/treatment-types/",
            {"name": f"IV {minutes}", "modality": "iv_ketamine", "duration_minutes": minutes},
            format="json",
        )

    short = create(90)  # the infusion and 50 minutes: the next patient would get a chair still in use
    assert short.status_code == 400
    assert "observation" in short.json()["errors"]["duration_minutes"][0]
    assert create(100).status_code == 201


def test_treatment_types_role_matrix(world, admin, make_staff, client_for, other_clinic):
    desk = world.front_desk
    assert desk.get("/api/v1/treatment-types/").json()["count"] == 2
    assert desk.post("/api/v1/treatment-types/", {"name": "x"}, format="json").status_code == 403
    assert (
        admin.patch(f"/api/v1/treatment-types/{world.iv.pk}/", {"turnover_minutes": 20}, format="json").status_code
        == 200
    )
    outsider = client_for(make_staff(other_clinic, Role.CLINIC_ADMIN))
    assert outsider.get(f"/api/v1/treatment-types/{world.iv.pk}/").status_code == 404
    assert (
        outsider.patch(f"/api/v1/treatment-types/{world.iv.pk}/", {"active": False}, format="json").status_code == 404
    )


def test_treatment_type_in_use_cannot_be_deleted(world, admin):
    SessionFactory(clinic=world.clinic, treatment_type=world.iv, room=world.room, clinician=world.nurse)
    response = admin.delete(f"/api/v1/treatment-types/{world.iv.pk}/")
    assert response.status_code == 409
    assert response.json()["code"] == "treatment_type_in_use"


def test_protocols_are_listed(world):
    body = world.front_desk.get("/api/v1/protocols/").json()
    codes = {p["code"] for p in body}
    assert {"iv-induction", "esketamine-trd-induction", "esketamine-mdsi"} <= codes
    iv = next(p for p in body if p["code"] == "iv-induction")
    assert iv["total_sessions"] == 6


# --- clinician availability ----------------------------------------------------------------------


def test_admin_sets_weekly_windows_and_time_off(world, admin):
    url = f"/api/v1/staff/{world.nurse.pk}/availability/"
    response = admin.put(
        url,
        {
            "weekly": [
                {"weekday": 0, "starts": "09:00", "ends": "13:00"},
                {"weekday": 0, "starts": "14:00", "ends": "18:00"},
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert len(response.json()["weekly"]) == 2
    assert AvailabilityWindow.objects.filter(staff_member=world.nurse).count() == 2
    overlapping = admin.put(
        url,
        {
            "weekly": [
                {"weekday": 0, "starts": "09:00", "ends": "13:00"},
                {"weekday": 0, "starts": "12:00", "ends": "18:00"},
            ]
        },
        format="json",
    )
    assert overlapping.status_code == 400
    assert "weekly.1.starts" in overlapping.json()["errors"]
    off = admin.post(
        f"{url}time-off/",
        {"starts_at": "2027-03-10T00:00:00-05:00", "ends_at": "2027-03-12T00:00:00-05:00", "reason": "Conference"},
        format="json",
    )
    assert off.status_code == 201
    assert admin.get(url).json()["time_off"][0]["reason"] == "Conference"
    assert admin.delete(f"{url}time-off/{off.json()['id']}/").status_code == 204
    assert not TimeOff.objects.exists()


def test_availability_config_roles(world, admin, make_staff, client_for, other_clinic):
    url = f"/api/v1/staff/{world.nurse.pk}/availability/"
    assert world.front_desk.get(url).status_code == 403
    outsider = client_for(make_staff(other_clinic, Role.CLINIC_ADMIN))
    assert outsider.get(url).status_code == 404
    desk_url = f"/api/v1/staff/{world.front_desk_member.pk}/availability/"
    refused = admin.put(desk_url, {"weekly": [{"weekday": 0, "starts": "09:00", "ends": "13:00"}]}, format="json")
    assert refused.status_code == 400


# --- the availability search ----------------------------------------------------------------------


def search(client, treatment_type, start, end, **extra) -> dict:
    params = {"treatment_type": treatment_type.pk, "start": start.isoformat(), "end": end.isoformat(), **extra}
    response = client.get("/api/v1/availability/", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_slots_are_local_and_respect_bookings(world):
    body = search(world.front_desk, world.iv, local(2027, 3, 2, 0), local(2027, 3, 3, 0))
    assert body["timezone"] == "America/New_York"
    starts = [s["start"] for s in body["slots"]]
    assert starts[0] == "2027-03-02T08:00:00-05:00"
    assert starts[-1] == "2027-03-02T18:15:00-05:00"  # 100 minutes must end by 20:00
    assert body["slots"][0]["rooms"] == [{"id": world.room.pk, "name": "Chair 1"}]
    book(world.front_desk, world, world.iv, local(2027, 3, 2, 10))
    after = [
        s["start"] for s in search(world.front_desk, world.iv, local(2027, 3, 2, 0), local(2027, 3, 3, 0))["slots"]
    ]
    # 10:00 to 11:55 holds the only chair (100 minutes + 15 turnover); 8:15 would run into it.
    assert "2027-03-02T08:00:00-05:00" in after
    assert "2027-03-02T08:15:00-05:00" not in after
    assert "2027-03-02T11:45:00-05:00" not in after
    assert "2027-03-02T12:00:00-05:00" in after


def test_patient_filter_applies_the_minimum_interval(world):
    book(world.front_desk, world, world.iv, local(2027, 3, 2, 10))
    RoomFactory(clinic=world.clinic)
    body = search(world.front_desk, world.iv, local(2027, 3, 3, 0), local(2027, 3, 4, 0), patient=world.patient.pk)
    assert body["slots"][0]["start"] == "2027-03-03T10:00:00-05:00"


@pytest.mark.parametrize(
    ("day", "offset_before", "offset_after"),
    [(dt.date(2027, 3, 14), "-05:00", "-04:00"), (dt.date(2027, 11, 7), "-04:00", "-05:00")],
)
def test_dst_days_keep_local_opening_hours(world, day, offset_before, offset_after):
    with time_machine.travel(dt.datetime(2027, 3, 1, tzinfo=NY), tick=False):
        world.patient.candidacy_expires_at = dt.datetime(2028, 6, 1, tzinfo=NY)
        world.patient.save()
        start = dt.datetime.combine(day, dt.time(0), tzinfo=NY)
        body = search(world.front_desk, world.iv, start, start + dt.timedelta(days=1))
    starts = [s["start"] for s in body["slots"]]
    assert starts[0] == f"{day.isoformat()}T08:00:00{offset_after}"
    assert starts[-1] == f"{day.isoformat()}T18:15:00{offset_after}"
    assert len(starts) == 42  # 08:00..18:15 every 15 minutes, the same on a 23- or 25-hour day
    assert offset_before != offset_after


def test_search_validation_and_roles(world, admin, make_staff, client_for, other_clinic):
    bad = world.front_desk.get(
        "/api/v1/availability/", {"treatment_type": world.iv.pk, "start": "2027-03-02T10:00", "end": "x"}
    )
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"start", "end"}
    too_long = world.front_desk.get(
        "/api/v1/availability/",
        {"treatment_type": world.iv.pk, "start": "2027-03-02T00:00:00Z", "end": "2027-07-02T00:00:00Z"},
    )
    assert too_long.status_code == 400
    assert admin.get("/api/v1/availability/", {"treatment_type": world.iv.pk}).status_code == 403
    outsider = client_for(make_staff(other_clinic, Role.FRONT_DESK))
    response = outsider.get(
        "/api/v1/availability/",
        {"treatment_type": world.iv.pk, "start": "2027-03-02T00:00:00Z", "end": "2027-03-03T00:00:00Z"},
    )
    assert response.status_code == 404


@pytest.mark.postgres
@pytest.mark.parametrize("resources", [1, 8])
def test_search_query_count_is_constant(world, resources, django_assert_max_num_queries):
    for _ in range(resources):
        RoomFactory(clinic=world.clinic)
        ClinicianFactory(clinic=world.clinic)
    for day in range(2, 9):
        SessionFactory(
            clinic=world.clinic,
            treatment_type=world.iv,
            room=world.room,
            clinician=world.nurse,
            starts_at=local(2027, 3, day, 9),
            ends_at=local(2027, 3, day, 10, 30),
            occupied_until=local(2027, 3, day, 10, 45),
        )
    # PostgreSQL: the token (with memberships), the treatment type, everything else in one statement;
    # plus the patient when the search is for one.
    with django_assert_max_num_queries(3):
        body = search(world.front_desk, world.iv, local(2027, 3, 2, 0), local(2027, 3, 30, 0))
    assert body["slots"]
    with django_assert_max_num_queries(4):
        search(world.front_desk, world.iv, local(2027, 3, 2, 0), local(2027, 3, 30, 0), patient=world.patient.pk)


def test_other_clinic_has_its_own_zone(db, make_staff, client_for):
    clinic = ClinicFactory(timezone="Europe/London")
    RoomFactory(clinic=clinic)
    ClinicianFactory(clinic=clinic)
    iv = TreatmentTypeFactory(clinic=clinic, duration_minutes=60)
    member = make_staff(clinic, Role.FRONT_DESK)
    with time_machine.travel(dt.datetime(2027, 3, 1, tzinfo=dt.UTC), tick=False):
        body = search(
            client_for(member), iv, dt.datetime(2027, 3, 2, tzinfo=dt.UTC), dt.datetime(2027, 3, 3, tzinfo=dt.UTC)
        )
    assert body["slots"][0]["start"] == "2027-03-02T08:00:00+00:00"


@pytest.mark.postgres
def test_the_single_query_loader_agrees_with_the_portable_one(world):
    """PostgreSQL loads the search inputs in one JSON statement; SQLite in one query per table."""
    from scheduling import selectors
    from tests.factories.scheduling import TimeOffFactory

    ClinicianFactory(clinic=world.clinic, windows=[(1, dt.time(9), dt.time(13)), (1, dt.time(14), dt.time(18))])
    TimeOffFactory(staff_member=world.nurse, starts_at=local(2027, 3, 3, 0), ends_at=local(2027, 3, 4, 0))
    book(world.front_desk, world, world.iv, local(2027, 3, 2, 10))
    book(world.front_desk, world.new_patient(), world.iv, local(2027, 3, 2, 14))
    window = {
        "lo": local(2027, 3, 1, 0),
        "hi": local(2027, 3, 9, 0),
        "patient": world.patient,
        "patient_lo": local(2027, 3, 1, 0),
        "patient_hi": local(2027, 3, 9, 0),
        "exclude": [],
    }
    query = selectors._Query(clinic=world.clinic, **window)
    assert selectors._load_sql(query) == selectors._load_orm(query)


# --- the slot step --------------------------------------------------------------------------------


def _day_starts(client, treatment_type, **extra) -> list[str]:
    body = search(client, treatment_type, local(2027, 3, 2, 0), local(2027, 3, 3, 0), **extra)
    return [s["start"][11:16] for s in body["slots"]]


def _every(step: int, first: str = "08:00", last: str = "18:20") -> list[str]:
    """Local starts from ``first`` every ``step`` minutes up to ``last`` (100 minutes before 20:00)."""
    to_minutes = lambda hhmm: int(hhmm[:2]) * 60 + int(hhmm[3:])  # noqa: E731
    return [f"{m // 60:02d}:{m % 60:02d}" for m in range(to_minutes(first), to_minutes(last) + 1, step)]


@pytest.mark.parametrize(("step", "count", "last"), [(30, 21, "18:00"), (20, 32, "18:20"), (45, 14, "17:45")])
def test_the_step_option_spaces_the_starts_from_opening(world, step, count, last):
    starts = _day_starts(world.front_desk, world.iv, step=step)
    assert starts == _every(step)
    assert (len(starts), starts[-1]) == (count, last)


def test_without_a_step_the_clinics_own_step_is_used_and_the_option_overrides_it(world):
    assert _day_starts(world.front_desk, world.iv) == _every(15)  # the default of 15 minutes
    world.clinic.slot_step_minutes = 20
    world.clinic.save()
    assert _day_starts(world.front_desk, world.iv) == _every(20)
    assert _day_starts(world.front_desk, world.iv, step=60) == _every(60)


def test_a_step_keeps_to_the_bookings_already_made(world):
    book(world.front_desk, world, world.iv, local(2027, 3, 2, 10))  # the only chair, 10:00 to 11:55
    starts = _day_starts(world.front_desk, world.iv, step=60)
    assert starts == ["08:00", "12:00", "13:00", "14:00", "15:00", "16:00", "17:00", "18:00"]


@pytest.mark.parametrize("step", ["4", "121", "0", "-15", "x", "7.5"])
def test_a_step_out_of_range_is_400_naming_the_field(world, step):
    response = world.front_desk.get(
        "/api/v1/availability/",
        {"treatment_type": world.iv.pk, "start": "2027-03-02T00:00:00Z", "end": "2027-03-03T00:00:00Z", "step": step},
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["step"]


def test_a_patient_of_another_clinic_is_404_or_400_naming_the_field(world, other_clinic, make_staff, client_for):
    from tests.factories.clinic import PatientFactory, StaffMemberFactory

    stranger = PatientFactory(clinic=other_clinic)
    params = {"treatment_type": world.iv.pk, "start": "2027-03-02T00:00:00Z", "end": "2027-03-03T00:00:00Z"}
    # A front desk of this clinic only: the other clinic's patient does not exist for them.
    assert world.front_desk.get("/api/v1/availability/", {**params, "patient": stranger.pk}).status_code == 404
    # A user who works at both: the patient is visible but cannot be treated here.
    both = make_staff(world.clinic, Role.FRONT_DESK)
    StaffMemberFactory(clinic=other_clinic, user=both.user, roles=[Role.FRONT_DESK])
    response = client_for(both).get("/api/v1/availability/", {**params, "patient": stranger.pk})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["patient"]
