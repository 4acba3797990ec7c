"""Factories for the scheduling app's models."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from clinic.access import Role
from scheduling.models import AvailabilityWindow, Course, Session, SessionEvent, TimeOff, TreatmentType
from tests.factories.clinic import ClinicFactory, PatientFactory, RoomFactory, StaffMemberFactory


class TreatmentTypeFactory(DjangoModelFactory[TreatmentType]):
    class Meta:
        model = TreatmentType

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Sequence(lambda n: f"IV infusion {n}")
    modality = "iv_ketamine"
    duration_minutes = 100
    turnover_minutes = 15
    min_hours_between = 24
    requires_rems_enrollment = False


class ClinicianFactory(StaffMemberFactory):
    """A nurse available 08:00-20:00 every day unless ``windows=[]``."""

    class Meta:
        skip_postgeneration_save = True

    roles = factory.LazyFunction(lambda: [Role.NURSE.value])
    max_concurrent_sessions = 2

    @factory.post_generation
    def windows(member, create, extracted, **kwargs):
        if not create:
            return
        spec = extracted if extracted is not None else [(d, dt.time(8), dt.time(20)) for d in range(7)]
        AvailabilityWindow.objects.bulk_create(
            AvailabilityWindow(staff_member=member, weekday=d, starts=s, ends=e) for d, s, e in spec
        )


class AvailabilityWindowFactory(DjangoModelFactory[AvailabilityWindow]):
    class Meta:
        model = AvailabilityWindow

    staff_member = factory.SubFactory(ClinicianFactory, windows=[])
    weekday = 0
    starts = dt.time(8)
    ends = dt.time(18)


class TimeOffFactory(DjangoModelFactory[TimeOff]):
    class Meta:
        model = TimeOff

    staff_member = factory.SubFactory(ClinicianFactory)
    starts_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=1))
    ends_at = factory.LazyAttribute(lambda t: t.starts_at + dt.timedelta(days=1))
    reason = "Leave"


class CourseFactory(DjangoModelFactory[Course]):
    class Meta:
        model = Course

    clinic = factory.SubFactory(ClinicFactory)
    patient = factory.SubFactory(PatientFactory, clinic=factory.SelfAttribute("..clinic"))
    treatment_type = factory.SubFactory(TreatmentTypeFactory, clinic=factory.SelfAttribute("..clinic"))
    protocol = "iv-induction"
    weekdays = factory.LazyFunction(lambda: [0, 2, 4])
    time_of_day = dt.time(10)


class SessionFactory(DjangoModelFactory[Session]):
    class Meta:
        model = Session

    clinic = factory.SubFactory(ClinicFactory)
    patient = factory.SubFactory(PatientFactory, clinic=factory.SelfAttribute("..clinic"))
    treatment_type = factory.SubFactory(TreatmentTypeFactory, clinic=factory.SelfAttribute("..clinic"))
    room = factory.SubFactory(RoomFactory, clinic=factory.SelfAttribute("..clinic"))
    clinician = factory.SubFactory(ClinicianFactory, clinic=factory.SelfAttribute("..clinic"))
    starts_at = factory.LazyFunction(lambda: (timezone.now() + dt.timedelta(days=2)).replace(microsecond=0))
    ends_at = factory.LazyAttribute(lambda s: s.starts_at + dt.timedelta(minutes=s.treatment_type.duration_minutes))
    occupied_until = factory.LazyAttribute(
        lambda s: s.ends_at + dt.timedelta(minutes=s.treatment_type.turnover_minutes)
    )


class SessionEventFactory(DjangoModelFactory[SessionEvent]):
    class Meta:
        model = SessionEvent

    session = factory.SubFactory(SessionFactory)
    kind = SessionEvent.Kind.BOOKED
