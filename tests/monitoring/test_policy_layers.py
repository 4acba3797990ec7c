"""Policy layers are validated in combination on every write (API, service, Django admin), and the
overdue sweep goes on for every other patient when one clinic's policy cannot be resolved."""

from __future__ import annotations

import json
import logging

import pytest

from clinic.access import Actor, Role
from clinic.errors import InvalidInput
from clinic.models import Alert
from monitoring.models import MonitoringPolicy
from monitoring.services.policy import policy_for, policy_update
from monitoring.tasks import raise_overdue_vitals_alerts
from tests.monitoring.conftest import at
from tests.monitoring.test_session_flow import dose, open_record, vitals

# Valid alone over the defaults (SpO2 warning < 94, critical < 88).
CLINIC_LAYER = {"spo2_warning_below": 91, "spo2_critical_below": 88}


@pytest.fixture
def clinic_admin(ward, make_staff):
    return make_staff(ward.clinic, Role.CLINIC_ADMIN)


def _url(treatment_type) -> str:
    return f"/api/v1/treatment-types/{treatment_type.pk}/monitoring-policy/"


def test_a_treatment_type_layer_is_validated_over_the_clinic_layer(ward, clinic_admin, client_for):
    admin = client_for(clinic_admin)
    policy_update(
        actor=Actor.for_user(clinic_admin.user),
        clinic_id=ward.clinic.pk,
        treatment_type=None,
        thresholds_overrides=CLINIC_LAYER,
    )
    # Alone over the defaults a critical limit of 92 is fine (warning 94); over the clinic's 91 it
    # would be less strict than the warning it escalates.
    response = admin.put(_url(ward.esketamine), {"thresholds": {"spo2_critical_below": 92}}, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert "thresholds.spo2_critical_below" in errors
    assert not MonitoringPolicy.objects.filter(treatment_type=ward.esketamine).exists()
    assert admin.get(_url(ward.esketamine)).status_code == 200  # still resolvable
    fine = admin.put(_url(ward.esketamine), {"thresholds": {"spo2_critical_below": 90}}, format="json")
    assert fine.status_code == 200
    assert fine.json()["thresholds"]["spo2_warning_below"] == 91


def test_a_clinic_layer_is_validated_under_every_treatment_type_layer(ward, clinic_admin, client_for):
    admin = client_for(clinic_admin)
    assert (
        admin.put(_url(ward.esketamine), {"thresholds": {"spo2_critical_below": 92}}, format="json").status_code == 200
    )
    with pytest.raises(InvalidInput) as refused:
        policy_update(
            actor=Actor.for_user(clinic_admin.user),
            clinic_id=ward.clinic.pk,
            treatment_type=None,
            thresholds_overrides=CLINIC_LAYER,
        )
    messages = refused.value.errors["thresholds.spo2_warning_below"]
    assert any("'Esketamine'" in message for message in messages)
    assert not MonitoringPolicy.objects.filter(treatment_type__isnull=True).exists()
    assert policy_for(ward.esketamine).thresholds.spo2_critical_below == 92


def test_a_clinic_layer_is_validated_for_every_modality(ward, clinic_admin):
    with pytest.raises(InvalidInput) as refused:
        policy_update(
            actor=Actor.for_user(clinic_admin.user),
            clinic_id=ward.clinic.pk,
            treatment_type=None,
            schedule_overrides={"minimum_monitoring_minutes": 60},
        )
    assert "schedule.minimum_monitoring_minutes" in refused.value.errors  # esketamine needs 120 (REMS)


def test_a_layer_for_another_clinics_treatment_type_is_refused(ward, other_ward, clinic_admin):
    with pytest.raises(InvalidInput) as refused:
        policy_update(
            actor=Actor.for_user(clinic_admin.user),
            clinic_id=ward.clinic.pk,
            treatment_type=other_ward.esketamine,
            thresholds_overrides={},
        )
    assert "treatment_type" in refused.value.errors


# --- the Django admin ------------------------------------------------------------------------------


@pytest.fixture
def admin_site(client, clinic_admin):
    clinic_admin.user.is_staff = True
    clinic_admin.user.save()
    client.force_login(clinic_admin.user)
    return client


def _admin_post(client, clinic, treatment_type=None, thresholds=None, schedule=None):
    return client.post(
        "/admin/monitoring/monitoringpolicy/add/",
        {
            "clinic": clinic.pk,
            "treatment_type": treatment_type.pk if treatment_type else "",
            "thresholds": json.dumps(thresholds if thresholds is not None else {}),
            "schedule": json.dumps(schedule if schedule is not None else {}),
        },
    )


def test_the_admin_form_validates_the_combination_and_names_the_field(ward, admin_site, clinic_admin, client_for):
    client_for(clinic_admin).put(_url(ward.esketamine), {"thresholds": {"spo2_critical_below": 92}}, format="json")
    page = _admin_post(admin_site, ward.clinic, thresholds=CLINIC_LAYER)
    assert page.status_code == 200  # the form again, with its errors
    errors = page.context["adminform"].form.errors
    assert "thresholds" in errors
    assert "spo2_warning_below" in " ".join(errors["thresholds"])
    assert not MonitoringPolicy.objects.filter(treatment_type__isnull=True).exists()
    saved = _admin_post(admin_site, ward.clinic, thresholds={"spo2_warning_below": 93})
    assert saved.status_code == 302
    assert policy_for(ward.esketamine).thresholds.spo2_warning_below == 93


@pytest.mark.parametrize("thresholds", [[1, 2], "strict", {"spo2_critical_below": 99}])
def test_the_admin_form_refuses_unusable_overrides_without_a_500(ward, admin_site, thresholds):
    page = _admin_post(admin_site, ward.clinic, thresholds=thresholds)
    assert page.status_code == 200
    assert "thresholds" in page.context["adminform"].form.errors
    assert not MonitoringPolicy.objects.exists()


def test_the_admin_offers_only_my_clinics_treatment_types(ward, other_ward, admin_site):
    page = _admin_post(admin_site, ward.clinic, treatment_type=other_ward.esketamine)
    assert page.status_code == 200
    assert "treatment_type" in page.context["adminform"].form.errors
    assert not MonitoringPolicy.objects.exists()


# --- the overdue sweep ----------------------------------------------------------------------------


def _opened(w, session) -> int:
    record_id = open_record(w, session)
    vitals(w, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    return record_id


def test_one_clinics_unresolvable_policy_does_not_stop_the_sweep(ward, other_ward, caplog):
    ours, theirs = ward.session(), other_ward.session()
    ward.clock.move_to(at(9))
    good = _opened(ward, ours)
    ward.clock.move_to(at(9, 1))
    broken = _opened(other_ward, theirs)  # opened last: swept first (newest first)
    ward.clock.move_to(at(9, 10))
    assert dose(ward, good).status_code == 201
    ward.clock.move_to(at(9, 11))
    assert dose(other_ward, broken).status_code == 201
    # A row the service would refuse, written before the checks existed (or by hand).
    MonitoringPolicy.objects.create(clinic=other_ward.clinic, thresholds={"spo2_critical_below": 99})

    ward.clock.move_to(at(9, 57))  # both missed the check at 40 minutes
    with caplog.at_level(logging.ERROR, logger="monitoring.services.discharge"):
        assert raise_overdue_vitals_alerts() == 1
    assert list(Alert.objects.filter(kind="vitals_overdue").values_list("scope_id", flat=True)) == [good]
    [failure] = [r for r in caplog.records if r.getMessage() == "monitoring.overdue_sweep_failed"]
    assert (failure.record_id, failure.clinic_id, failure.error) == (
        broken,
        other_ward.clinic.pk,
        "ThresholdConfigError",
    )
    assert failure.exc_info is None  # no traceback: its text could carry a patient's values
    # The PHI guard fixture also scans every log line for names, birth dates, emails and phones.


# --- two administrators at once --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_layers_valid_alone_saved_at_once_cannot_both_land(monkeypatch):
    """Each write validates the combination with the other layers, so the writes must not overlap:
    validation is slowed down here to make them overlap if they could. One lands, the other is
    refused, and the stored combination still resolves."""
    import threading
    import time

    from django.db import connection

    from monitoring.services import policy as policy_module
    from tests.factories.clinic import ClinicFactory, StaffMemberFactory
    from tests.factories.scheduling import TreatmentTypeFactory

    clinic = ClinicFactory()
    esketamine = TreatmentTypeFactory(
        clinic=clinic, modality="esketamine_nasal", duration_minutes=140, requires_rems_enrollment=True
    )
    actor = Actor.for_user(StaffMemberFactory(clinic=clinic, roles=[Role.CLINIC_ADMIN]).user)
    validate = policy_module.policy_errors

    def slow_validation(**kwargs):
        errors = validate(**kwargs)
        time.sleep(0.3)
        return errors

    monkeypatch.setattr(policy_module, "policy_errors", slow_validation)
    writes = {
        "clinic": {"treatment_type": None, "thresholds_overrides": CLINIC_LAYER},
        "esketamine": {"treatment_type": esketamine, "thresholds_overrides": {"spo2_critical_below": 92}},
    }
    outcomes: dict[str, str] = {}
    start = threading.Barrier(len(writes))

    def write(name: str) -> None:
        try:
            start.wait()
            policy_update(actor=actor, clinic_id=clinic.pk, **writes[name])
            outcomes[name] = "saved"
        except InvalidInput:
            outcomes[name] = "refused"
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(name,)) for name in writes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes.values()) == ["refused", "saved"], outcomes
    assert MonitoringPolicy.objects.filter(clinic=clinic).count() == 1
    policy_for(esketamine)  # resolves: the stored layers are a combination someone validated
