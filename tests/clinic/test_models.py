"""Model-level rules: MRN format, time zones, database constraints."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from hypothesis import given
from hypothesis import strategies as st

from clinic.models import (
    MRN_ALPHABET,
    Clinic,
    OpeningHours,
    StaffMember,
    generate_mrn,
    mrn_check_character,
    mrn_is_well_formed,
    validate_iana_timezone,
)
from tests.factories.clinic import ClinicFactory, PatientFactory


@given(st.integers(min_value=0, max_value=10_000))
def test_generated_mrns_are_well_formed(_):
    assert mrn_is_well_formed(generate_mrn())


@given(st.text(alphabet=MRN_ALPHABET, min_size=7, max_size=7), st.integers(0, 6), st.sampled_from(MRN_ALPHABET))
def test_any_single_character_typo_is_detected(body, position, replacement):
    mrn = body + mrn_check_character(body)
    typo = mrn[:position] + replacement + mrn[position + 1 :]
    if typo != mrn:
        assert not mrn_is_well_formed(typo)


@given(st.text(alphabet=MRN_ALPHABET, min_size=7, max_size=7), st.integers(0, 5))
def test_swapping_neighbours_is_detected(body, position):
    mrn = body + mrn_check_character(body)
    swapped = mrn[:position] + mrn[position + 1] + mrn[position] + mrn[position + 2 :]
    if swapped != mrn:
        assert not mrn_is_well_formed(swapped)


def test_time_zone_must_be_iana():
    validate_iana_timezone("Europe/Dublin")
    with pytest.raises(ValidationError):
        validate_iana_timezone("EST5EDT-ish")


def test_clinic_tz_property():
    assert Clinic(timezone="America/New_York").tz.key == "America/New_York"


def test_opening_window_must_open_before_it_closes(db):
    clinic = ClinicFactory(hours=[])
    with pytest.raises(IntegrityError), transaction.atomic():
        OpeningHours.objects.create(clinic=clinic, weekday=1, opens=dt.time(17), closes=dt.time(9))


def test_one_membership_per_user_and_clinic(db, make_staff, clinic):
    member = make_staff(clinic, "nurse")
    with pytest.raises(IntegrityError), transaction.atomic():
        StaffMember.objects.create(clinic=clinic, user=member.user, roles=["front_desk"])


def test_patient_str_carries_no_name(db):
    patient = PatientFactory()
    assert patient.first_name not in str(patient)
    assert patient.mrn in str(patient)


def test_expired_approval_reads_as_expired(db):
    patient = PatientFactory(candidacy_status="approved")
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    patient.candidacy_expires_at = now + dt.timedelta(days=1)
    assert patient.candidacy_status_now(now) == "approved"
    assert patient.candidacy_status_now(now + dt.timedelta(days=2)) == "expired"
