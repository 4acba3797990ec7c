"""Factories for the clinic app's models. Patient values are registered as PHI for the log scan."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory
from knox.models import AuthToken

from clinic.access import Role
from clinic.models import (
    Alert,
    AuditEvent,
    Channel,
    Clinic,
    Closure,
    IdempotencyKey,
    Modality,
    OpeningHours,
    OutboundMessage,
    Patient,
    Room,
    StaffMember,
    User,
)
from tests.phi import register_phi

TEST_PASSWORD = "correct-horse-battery-staple"


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@clinic.test")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ClinicFactory(DjangoModelFactory[Clinic]):
    class Meta:
        model = Clinic
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Clinic {n}")
    timezone = "America/New_York"
    phone = "+12025550100"
    city = "Springfield"

    @factory.post_generation
    def hours(clinic, create, extracted, **kwargs):
        """Open 08:00-20:00 every day unless ``hours=[]`` or a list of (weekday, opens, closes)."""
        if not create:
            return
        windows = extracted if extracted is not None else [(d, dt.time(8), dt.time(20)) for d in range(7)]
        OpeningHours.objects.bulk_create(
            OpeningHours(clinic=clinic, weekday=d, opens=o, closes=c) for d, o, c in windows
        )


class OpeningHoursFactory(DjangoModelFactory[OpeningHours]):
    class Meta:
        model = OpeningHours

    clinic = factory.SubFactory(ClinicFactory, hours=[])
    weekday = 0
    opens = dt.time(8)
    closes = dt.time(18)


class ClosureFactory(DjangoModelFactory[Closure]):
    class Meta:
        model = Closure

    clinic = factory.SubFactory(ClinicFactory)
    starts_on = dt.date(2026, 12, 25)
    ends_on = dt.date(2026, 12, 25)
    reason = "Holiday"


class RoomFactory(DjangoModelFactory[Room]):
    class Meta:
        model = Room

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Sequence(lambda n: f"Room {n}")
    kind = Room.Kind.CHAIR
    modalities = factory.LazyFunction(lambda: [m.value for m in Modality])


class StaffMemberFactory(DjangoModelFactory[StaffMember]):
    class Meta:
        model = StaffMember

    clinic = factory.SubFactory(ClinicFactory)
    user = factory.SubFactory(UserFactory)
    roles = factory.LazyFunction(lambda: [Role.FRONT_DESK.value])
    max_concurrent_sessions = 2


class PatientFactory(DjangoModelFactory[Patient]):
    class Meta:
        model = Patient
        skip_postgeneration_save = True

    clinic = factory.SubFactory(ClinicFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    date_of_birth = factory.Faker("date_of_birth", minimum_age=19, maximum_age=80)
    sex_at_birth = Patient.SexAtBirth.FEMALE
    email = factory.Sequence(lambda n: f"patient{n}@mail.test")
    phone = factory.Sequence(lambda n: f"+1202555{n % 10000:04d}")
    preferred_channel = "email"
    emergency_contact_name = factory.Faker("name")
    emergency_contact_phone = "+12025550190"

    @factory.post_generation
    def _register_phi(patient, create, extracted, **kwargs):
        register_phi(
            patient.first_name,
            patient.last_name,
            patient.email,
            str(patient.phone),
            patient.date_of_birth.isoformat(),
            patient.emergency_contact_name,
        )


class AuditEventFactory(DjangoModelFactory[AuditEvent]):
    class Meta:
        model = AuditEvent

    clinic = factory.SubFactory(ClinicFactory)
    actor = factory.SubFactory(UserFactory)
    action = AuditEvent.Action.READ
    object_type = "patient"
    object_id = "1"


def token_for(user: User) -> str:
    _instance, token = AuthToken.objects.create(user=user)
    return token


class AlertFactory(DjangoModelFactory[Alert]):
    class Meta:
        model = Alert

    clinic = factory.SubFactory(ClinicFactory)
    patient = factory.SubFactory(PatientFactory, clinic=factory.SelfAttribute("..clinic"))
    kind = Alert.Kind.SUICIDE_RISK
    severity = Alert.Severity.CRITICAL
    message = "PHQ-9 item 9 answered 1 of 3"
    source_type = "questionnaire_response"
    source_id = "1"


class OutboundMessageFactory(DjangoModelFactory[OutboundMessage]):
    """An outbox row: an intake invitation e-mail to a patient, due now, unless told otherwise."""

    class Meta:
        model = OutboundMessage

    clinic = factory.SubFactory(ClinicFactory)
    patient = factory.SubFactory(PatientFactory, clinic=factory.SelfAttribute("..clinic"))
    kind = OutboundMessage.Kind.INTAKE_INVITATION
    channel = Channel.EMAIL
    recipient = factory.LazyAttribute(lambda m: m.patient.email if m.patient else "staff@clinic.test")
    subject_type = "form_invitation"
    subject_id = factory.Sequence(lambda n: n + 1)
    scheduled_for = factory.LazyFunction(timezone.now)
    dedupe_key = factory.Sequence(lambda n: f"test-message:{n}")


class IdempotencyKeyFactory(DjangoModelFactory[IdempotencyKey]):
    """A completed claim of an ``Idempotency-Key`` (see ``clinic.idempotency``)."""

    class Meta:
        model = IdempotencyKey

    user = factory.SubFactory(UserFactory)
    key = factory.Sequence(lambda n: f"key-{n:08d}")
    method = "POST"
    path = "/api/v1/sessions/"
    request_hash = "0" * 64
    status_code = 201
    resource_type = "session"
    resource_ids = factory.LazyFunction(lambda: [1])
