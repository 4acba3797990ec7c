"""Every monitoring endpoint against every kind of caller, in one table.

For each route of ``monitoring/api/urls.py``: the roles that may succeed, the roles that may not
(403, and nothing is read or written), the same permitted role in another clinic (404, or an empty
list for the clinic-wide lists, so another clinic's records never leak) and anonymous (401).
Clinical reads (the record, the chair board, the REMS form and its queue) must leave an audit
event naming the reader, the patient and the request.

"Nothing is read or written" is checked through the audit table: every service write and every
clinical read records an event, so a refused call must leave the table's size unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from clinic.access import Role
from clinic.models import AuditEvent
from monitoring.models import Dose, VitalSign
from tests.factories.clinic import StaffMemberFactory
from tests.monitoring.conftest import Ward, at, open_checks
from tests.monitoring.test_session_flow import DISCHARGE, dose, open_record, vitals

CLINICIANS = (Role.NURSE, Role.PRESCRIBER)
NOT_CLINICIANS = (Role.FRONT_DESK, Role.CLINIC_ADMIN)
ADMINS = (Role.CLINIC_ADMIN,)
NOT_ADMINS = (Role.NURSE, Role.PRESCRIBER, Role.FRONT_DESK)
NORMAL = {"systolic": 122, "diastolic": 80, "heart_rate": 72, "spo2": 98}


# --- the state each endpoint needs to succeed ------------------------------------------------------


def _checked_in(w: Ward, treatment_type=None):
    session = w.session(treatment_type=treatment_type)
    w.clock.move_to(at(9))
    return session


def _opened(w: Ward) -> int:
    record_id = open_record(w, _checked_in(w))
    assert vitals(w, record_id, **NORMAL).status_code == 201
    return record_id


def _discharged(w: Ward) -> int:
    """An esketamine patient dosed and sent on early by a prescriber's override: the form is due."""
    record_id = _opened(w)
    assert dose(w, record_id).status_code == 201
    response = w.prescriber_client.post(
        f"/api/v1/monitoring/{record_id}/discharge/",
        {**DISCHARGE, "override_reason": "Sent to the ED."},
        format="json",
    )
    assert response.status_code == 201, response.content
    return record_id


def _infusing(w: Ward) -> tuple[int, int]:
    record_id = open_record(w, _checked_in(w, w.iv), prescriber_on_site=None, rems_enrollment_confirmed=False)
    assert vitals(w, record_id, **NORMAL).status_code == 201
    w.clock.move_to(at(9, 5))
    started = dose(w, record_id, dose_mg="40.00")
    assert started.status_code == 201, started.content
    w.clock.move_to(at(9, 45))
    return record_id, started.json()["id"]


Built = tuple[str, dict | None]


def _open(w: Ward) -> Built:
    return f"sessions/{_checked_in(w).pk}/monitoring/", open_checks(w)


def _board(w: Ward) -> Built:
    _opened(w)
    return "monitoring/board/", None


def _rems_forms(w: Ward) -> Built:
    _discharged(w)
    return "monitoring/rems-forms/", None


def _record(w: Ward) -> Built:
    return f"monitoring/{_opened(w)}/", None


def _vitals(w: Ward) -> Built:
    return f"monitoring/{_opened(w)}/vitals/", NORMAL


def _doses(w: Ward) -> Built:
    record_id = _opened(w)
    w.clock.move_to(at(9, 10))
    return f"monitoring/{record_id}/doses/", {"lot_number": "LOT-7"}


def _infusion_end(w: Ward) -> Built:
    record_id, dose_id = _infusing(w)
    return f"monitoring/{record_id}/doses/{dose_id}/infusion-end/", {}


def _scales(w: Ward) -> Built:
    return f"monitoring/{_opened(w)}/scales/", {"scale": "moaas", "value": 5}


def _adverse_events(w: Ward) -> Built:
    body = {
        "type": "nausea",
        "severity": "mild",
        "serious": False,
        "onset_at": at(9).isoformat(),
        "outcome": "resolved",
    }
    return f"monitoring/{_opened(w)}/adverse-events/", body


def _amendments(w: Ward) -> Built:
    record_id = _opened(w)
    reading = VitalSign.objects.get(record_id=record_id)
    body = {
        "target_type": "vital_sign",
        "target_id": reading.pk,
        "field": "systolic",
        "new_value": 124,
        "reason": "Misread the cuff.",
    }
    return f"monitoring/{record_id}/amendments/", body


def _discharge(w: Ward) -> Built:
    return f"monitoring/{_opened(w)}/discharge/", DISCHARGE


def _rems_form(w: Ward) -> Built:
    return f"monitoring/{_opened(w)}/rems-form/", None


def _rems_form_csv(w: Ward) -> Built:
    return f"monitoring/{_opened(w)}/rems-form/?format=csv", None


def _rems_submitted(w: Ward) -> Built:
    return f"monitoring/{_discharged(w)}/rems-form/submitted/", {"confirmation": "RC-1"}


def _policy(w: Ward) -> Built:
    return f"treatment-types/{w.esketamine.pk}/monitoring-policy/", None


def _policy_put(w: Ward) -> Built:
    return f"treatment-types/{w.esketamine.pk}/monitoring-policy/", {"thresholds": {"predose_systolic_max": 150}}


@dataclass(frozen=True)
class Case:
    name: str
    route: str  # as written in monitoring/api/urls.py
    method: str
    build: Callable[[Ward], Built]
    ok: int
    may: tuple[str, ...] = CLINICIANS
    may_not: tuple[str, ...] = NOT_CLINICIANS
    listing: bool = False  # clinic-wide: another clinic's staff get an empty list, not 404
    audited_read: str | None = None  # the object_type of the read's audit event
    audited: bool = True  # False only for reading configuration, which holds no patient data

    def __str__(self) -> str:
        return self.name


CASES = [
    Case("open record", "sessions/<int:session_id>/monitoring/", "post", _open, 201),
    Case("chair board", "monitoring/board/", "get", _board, 200, listing=True, audited_read="monitoring_board"),
    Case(
        "REMS forms due",
        "monitoring/rems-forms/",
        "get",
        _rems_forms,
        200,
        listing=True,
        audited_read="monitoring_record",
    ),
    Case("record", "monitoring/<int:record_id>/", "get", _record, 200, audited_read="monitoring_record"),
    Case("vitals", "monitoring/<int:record_id>/vitals/", "post", _vitals, 201),
    Case("doses", "monitoring/<int:record_id>/doses/", "post", _doses, 201),
    Case("infusion end", "monitoring/<int:record_id>/doses/<int:dose_id>/infusion-end/", "post", _infusion_end, 200),
    Case("scales", "monitoring/<int:record_id>/scales/", "post", _scales, 201),
    Case("adverse events", "monitoring/<int:record_id>/adverse-events/", "post", _adverse_events, 201),
    Case("amendments", "monitoring/<int:record_id>/amendments/", "post", _amendments, 201),
    Case("discharge", "monitoring/<int:record_id>/discharge/", "post", _discharge, 201),
    Case(
        "REMS form", "monitoring/<int:record_id>/rems-form/", "get", _rems_form, 200, audited_read="monitoring_record"
    ),
    Case(
        "REMS form csv",
        "monitoring/<int:record_id>/rems-form/",
        "get",
        _rems_form_csv,
        200,
        audited_read="monitoring_record",
    ),
    Case("REMS form submitted", "monitoring/<int:record_id>/rems-form/submitted/", "post", _rems_submitted, 201),
    Case(
        "policy read",
        "treatment-types/<int:treatment_type_id>/monitoring-policy/",
        "get",
        _policy,
        200,
        audited=False,
        may=ADMINS,
        may_not=NOT_ADMINS,
    ),
    Case(
        "policy write",
        "treatment-types/<int:treatment_type_id>/monitoring-policy/",
        "put",
        _policy_put,
        200,
        may=ADMINS,
        may_not=NOT_ADMINS,
    ),
]


def _call(client, case: Case, path: str, body: dict | None):
    return getattr(client, case.method)(f"/api/v1/{path}", body, format="json")


def _member(clinic, role: str, ward: Ward):
    if clinic == ward.clinic and role == Role.NURSE:
        return ward.nurse
    if clinic == ward.clinic and role == Role.PRESCRIBER:
        return ward.prescriber
    return StaffMemberFactory(clinic=clinic, roles=[role])


def _pairs(attribute: str) -> list:
    return [pytest.param(case, role, id=f"{case.name}-{role}") for case in CASES for role in getattr(case, attribute)]


def test_the_table_covers_every_monitoring_route():
    """A new route or method without a row here fails this test instead of going unchecked."""
    from monitoring.api.urls import urlpatterns

    served = {
        (str(p.pattern), method)
        for p in urlpatterns
        for method in ("get", "post", "put", "patch", "delete")
        if hasattr(p.callback.view_class, method)
    }
    assert served == {(case.route, case.method) for case in CASES}


@pytest.mark.parametrize(("case", "role"), _pairs("may"))
def test_the_role_that_may(ward, client_for, case, role):
    path, body = case.build(ward)
    member = _member(ward.clinic, role, ward)
    last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    response = _call(client_for(member), case, path, body)
    assert response.status_code == case.ok, response.content
    events = AuditEvent.objects.filter(pk__gt=last, actor=member.user)
    assert events.exists() == case.audited, "every clinical read and every write is audited"
    if case.audited_read:
        reads = events.filter(action=AuditEvent.Action.READ, object_type=case.audited_read)
        assert reads.exists(), list(events.values_list("action", "object_type"))
        assert all((e.patient_id, e.clinic_id) == (ward.patient.pk, ward.clinic.pk) and e.request_id for e in reads), (
            "a read names the patient, the clinic and the request"
        )
    if case.listing:
        assert len(response.json()) == 1


@pytest.mark.parametrize(("case", "role"), _pairs("may_not"))
def test_the_roles_that_may_not(ward, client_for, case, role):
    path, body = case.build(ward)
    before = AuditEvent.objects.count()
    doses = Dose.objects.count()
    response = _call(client_for(_member(ward.clinic, role, ward)), case, path, body)
    assert response.status_code == 403, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert AuditEvent.objects.count() == before, "a refused call reads and writes nothing"
    assert Dose.objects.count() == doses


@pytest.mark.parametrize("case", CASES, ids=str)
def test_another_clinics_staff_find_nothing(ward, other_clinic, client_for, case):
    path, body = case.build(ward)
    outsider = StaffMemberFactory(clinic=other_clinic, roles=[case.may[0]])
    before = AuditEvent.objects.filter(patient=ward.patient).count()
    response = _call(client_for(outsider), case, path, body)
    if case.listing:
        assert response.status_code == 200
        assert response.json() == [], "another clinic's rows never show"
    else:
        assert response.status_code == 404, response.content
    assert AuditEvent.objects.filter(patient=ward.patient).count() == before
    assert not AuditEvent.objects.filter(clinic=ward.clinic, actor=outsider.user).exists()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_anonymous_callers_are_asked_to_authenticate(ward, api_client, case):
    path, body = case.build(ward)
    before = AuditEvent.objects.count()
    response = _call(api_client, case, path, body)
    assert response.status_code == 401, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert AuditEvent.objects.count() == before
