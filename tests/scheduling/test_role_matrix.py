"""Who may call each scheduling endpoint: the role that may, the roles that may not (403), a user of
another clinic holding the permitted role (404, so nothing leaks) and anonymous (401).

Every refused call is also checked to have changed nothing. Booking (POST and GET sessions/) and the
treatment-type list have their own role tests in test_booking_api.py and test_config_api.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from clinic.access import Role
from scheduling.models import AvailabilityWindow, Course, Session, TimeOff, TreatmentType
from tests.factories.clinic import ClinicFactory
from tests.factories.scheduling import SessionFactory, TimeOffFactory, TreatmentTypeFactory
from tests.scheduling.helpers import local

ESCORT = {"escort_name": "Pat Driver", "escort_phone": "+12025550177"}
DESK, NURSE, PRESCRIBER, ADMIN = Role.FRONT_DESK, Role.NURSE, Role.PRESCRIBER, Role.CLINIC_ADMIN
STAFF_ROLES = (DESK, NURSE, PRESCRIBER, ADMIN)


@dataclass
class Targets:
    """One object per endpoint, each in the state in which the permitted role succeeds."""

    world: object
    booked: Session  # tomorrow 10:00: reschedule, cancel, retrieve
    today: Session  # today 15:00: check-in
    overdue: Session  # today 09:00, three hours ago: no-show
    time_off: TimeOff
    spare_type: TreatmentType  # no sessions: deletable


@pytest.fixture
def targets(world) -> Targets:
    def session(start, patient=None):
        return SessionFactory(
            clinic=world.clinic,
            patient=patient or world.new_patient(),
            treatment_type=world.iv,
            room=world.room,
            clinician=world.nurse,
            starts_at=start,
        )

    return Targets(
        world=world,
        booked=session(local(2027, 3, 2, 10), world.patient),
        today=session(local(2027, 3, 1, 15)),
        overdue=session(local(2027, 3, 1, 9)),
        time_off=TimeOffFactory(
            staff_member=world.nurse, starts_at=local(2027, 4, 5, 0), ends_at=local(2027, 4, 6, 0)
        ),  # clear of the sessions above
        spare_type=TreatmentTypeFactory(clinic=world.clinic, name="IM ketamine", modality="im_ketamine"),
    )


def _status(session: Session) -> tuple:
    session.refresh_from_db()
    return session.status, session.starts_at


@dataclass(frozen=True)
class Endpoint:
    call: Callable[[APIClient, Targets], object]
    may: frozenset  # the roles that may
    ok: int  # the permitted role's answer
    state: Callable[[Targets], object] = lambda t: None  # what a refused call must leave unchanged


def _staff(t: Targets) -> str:
    return f"/api/v1/staff/{t.world.nurse.pk}/availability/"


def _session_url(session: Session, action: str = "") -> str:
    return f"/api/v1/sessions/{session.pk}/{action + '/' if action else ''}"


ENDPOINTS = {
    # --- session lifecycle
    "session retrieve": Endpoint(lambda c, t: c.get(_session_url(t.booked)), frozenset({DESK, NURSE, PRESCRIBER}), 200),
    "session reschedule": Endpoint(
        lambda c, t: c.post(
            _session_url(t.booked, "reschedule"), {"start": local(2027, 3, 3, 10).isoformat()}, format="json"
        ),
        frozenset({DESK}),
        200,
        lambda t: _status(t.booked),
    ),
    "session cancel": Endpoint(
        lambda c, t: c.post(_session_url(t.booked, "cancel"), {"reason": "Unwell"}, format="json"),
        frozenset({DESK}),
        200,
        lambda t: _status(t.booked),
    ),
    "session check-in (escort)": Endpoint(
        lambda c, t: c.post(_session_url(t.today, "check-in"), ESCORT, format="json"),
        frozenset({DESK}),
        200,
        lambda t: (_status(t.today), t.today.escort_name),
    ),
    "session no-show": Endpoint(
        lambda c, t: c.post(_session_url(t.overdue, "no-show")),
        frozenset({DESK}),
        200,
        lambda t: _status(t.overdue),
    ),
    # --- series
    "series book": Endpoint(
        lambda c, t: c.post(
            "/api/v1/series/",
            {
                "patient": t.world.patient.pk,
                "treatment_type": t.world.iv.pk,
                "protocol": "iv-induction",
                "first_start": local(2027, 3, 8, 10).isoformat(),
            },
            format="json",
        ),
        frozenset({DESK}),
        201,
        lambda t: (Course.objects.count(), Session.objects.count()),
    ),
    # --- availability search and protocols
    "availability search": Endpoint(
        lambda c, t: c.get(
            "/api/v1/availability/",
            {"treatment_type": t.world.iv.pk, "start": "2027-03-02T00:00:00Z", "end": "2027-03-03T00:00:00Z"},
        ),
        frozenset({DESK, NURSE, PRESCRIBER}),
        200,
    ),
    # --- a clinician's hours and time off
    "staff availability read": Endpoint(lambda c, t: c.get(_staff(t)), frozenset({ADMIN}), 200),
    "staff availability replace": Endpoint(
        lambda c, t: c.put(_staff(t), {"weekly": [{"weekday": 0, "starts": "09:00", "ends": "13:00"}]}, format="json"),
        frozenset({ADMIN}),
        200,
        lambda t: sorted(
            AvailabilityWindow.objects.filter(staff_member=t.world.nurse).values_list("weekday", "starts")
        ),
    ),
    "staff time-off add": Endpoint(
        lambda c, t: c.post(
            f"{_staff(t)}time-off/",
            {"starts_at": "2027-03-10T00:00:00-05:00", "ends_at": "2027-03-11T00:00:00-05:00", "reason": "Course"},
            format="json",
        ),
        frozenset({ADMIN}),
        201,
        lambda t: TimeOff.objects.count(),
    ),
    "staff time-off delete": Endpoint(
        lambda c, t: c.delete(f"{_staff(t)}time-off/{t.time_off.pk}/"),
        frozenset({ADMIN}),
        204,
        lambda t: TimeOff.objects.filter(pk=t.time_off.pk).exists(),
    ),
    # --- treatment types
    "treatment type retrieve": Endpoint(
        lambda c, t: c.get(f"/api/v1/treatment-types/{t.spare_type.pk}/"),
        frozenset(STAFF_ROLES),
        200,
    ),
    "treatment type create": Endpoint(
        lambda c, t: c.post(
            "/api/v1/treatment-types/",
            {"clinic": t.world.clinic.pk, "name": "IM", "modality": "im_ketamine", "duration_minutes": 60},
            format="json",
        ),
        frozenset({ADMIN}),
        201,
        lambda t: TreatmentType.objects.count(),
    ),
    "treatment type update": Endpoint(
        lambda c, t: c.patch(f"/api/v1/treatment-types/{t.spare_type.pk}/", {"turnover_minutes": 30}, format="json"),
        frozenset({ADMIN}),
        200,
        lambda t: TreatmentType.objects.get(pk=t.spare_type.pk).turnover_minutes,
    ),
    "treatment type delete": Endpoint(
        lambda c, t: c.delete(f"/api/v1/treatment-types/{t.spare_type.pk}/"),
        frozenset({ADMIN}),
        204,
        lambda t: TreatmentType.objects.filter(pk=t.spare_type.pk).exists(),
    ),
}

# The one call the test of another clinic makes with a body naming a clinic: the outsider names
# the clinic it does not belong to, which must be 400 on the field or 404, never a create.
_CLINIC_IN_BODY = {"treatment type create"}

CALLERS = (*STAFF_ROLES, "other clinic", "anonymous")


def _expected(endpoint: Endpoint, caller: str) -> int:
    if caller == "anonymous":
        return 401
    if caller == "other clinic":
        return 404
    return endpoint.ok if caller in endpoint.may else 403


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_role_matrix(name, caller, targets, make_staff, client_for):
    endpoint = ENDPOINTS[name]
    if caller == "anonymous":
        client = APIClient()
    elif caller == "other clinic":
        # The outsider holds every role that may, so only the clinic boundary can refuse it.
        client = client_for(make_staff(ClinicFactory(name="Elsewhere"), *sorted(endpoint.may)))
    else:
        client = client_for(make_staff(targets.world.clinic, caller))
    before = endpoint.state(targets)
    response = endpoint.call(client, targets)
    expected = _expected(endpoint, caller)
    if caller == "other clinic" and name in _CLINIC_IN_BODY:
        assert response.status_code == 400, response.content
        assert list(response.json()["errors"]) == ["clinic"]
    else:
        assert response.status_code == expected, (name, caller, response.content)
    if expected >= 400:
        assert response["Content-Type"].startswith("application/problem+json")
        assert endpoint.state(targets) == before, f"{name} refused for {caller} but changed state"
    elif before is not None:
        assert endpoint.state(targets) != before, f"{name} answered {expected} but changed nothing"
