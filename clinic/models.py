"""Clinics, their rooms and staff, patients, and the append-only audit log.

Every record belongs to one clinic; every invariant the database can hold is declared here
(unique and check constraints), so it holds for every writer. Writes go through
``clinic.services``; reads through ``clinic.selectors``.
"""

import datetime as dt
import secrets
import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField

from clinic.messaging.discreet import treatment_words_in

from .access import Role


class Modality(models.TextChoices):
    IV_KETAMINE = "iv_ketamine", _("IV ketamine")
    IM_KETAMINE = "im_ketamine", _("IM ketamine")
    ESKETAMINE_NASAL = "esketamine_nasal", _("Esketamine nasal spray")


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")


def validate_iana_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not an IANA time zone name."), params={"value": value})


def validate_modalities(value: object) -> None:
    allowed = set(Modality.values)
    if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
        raise ValidationError(_("Must be a list of modality names."))
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ValidationError(_("Unknown modalities: %(names)s."), params={"names": ", ".join(unknown)})


def validate_roles(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise ValidationError(_("Must be a list of role names."))
    unknown = sorted(set(value) - set(Role.values))
    if unknown:
        raise ValidationError(_("Unknown roles: %(names)s."), params={"names": ", ".join(unknown)})
    if not value:
        raise ValidationError(_("At least one role is needed."))


def default_reminder_hours() -> list[int]:
    return [48, 2]


# Callables, so the migration refers to settings instead of copying them: adding a language to
# settings.LANGUAGES needs a catalogue (locale/), not a migration.
def language_choices() -> list[tuple[str, str]]:
    return list(settings.LANGUAGES)


def default_language() -> str:
    return settings.LANGUAGE_CODE


DEFAULT_CRISIS_RESOURCES = (
    "If you are thinking about harming yourself or are in crisis, call or text 988 "
    "(Suicide & Crisis Lifeline, US) or call 911 now. You can also call the clinic."
)


class TimeStamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class User(AbstractUser):
    """A staff login. Patients never get one: they act through single-purpose links."""

    class Meta:
        db_table = "clinic_user"


class Clinic(TimeStamped):
    """A treatment site: its local time zone, hours, and the settings its staff may change."""

    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, validators=[validate_iana_timezone])
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, default="US")
    phone = PhoneNumberField(blank=True)
    email = models.EmailField(blank=True)
    active = models.BooleanField(default=True)
    language = models.CharField(
        max_length=15,
        choices=language_choices,
        default=default_language,
        help_text=_("The language of the clinic's patient pages and of the messages its patients receive."),
    )
    message_name = models.CharField(
        max_length=200,
        blank=True,
        help_text=_(
            "The name patients see in messages and on their form pages, when it should differ from the "
            "clinic's name: it must not name a drug, treatment or diagnosis (messages are discreet)."
        ),
    )

    # Reminder and survey settings (used by the notification outbox).
    reminder_hours_before = models.JSONField(
        default=default_reminder_hours,
        help_text=_("Hours before a session at which reminders go out, e.g. [48, 2]."),
    )
    booking_confirmation_delay_minutes = models.PositiveSmallIntegerField(
        default=3, help_text=_("A booking confirmation waits this long, so an immediate undo sends nothing.")
    )
    quiet_hours_start = models.TimeField(default=dt.time(21, 0))
    quiet_hours_end = models.TimeField(default=dt.time(8, 0))
    followup_survey_delay_hours = models.PositiveSmallIntegerField(default=24)
    survey_link_valid_days = models.PositiveSmallIntegerField(default=7)
    intake_link_valid_days = models.PositiveSmallIntegerField(default=7)
    candidacy_approval_valid_months = models.PositiveSmallIntegerField(default=12)
    late_cancel_window_hours = models.PositiveSmallIntegerField(default=24)
    slot_step_minutes = models.PositiveSmallIntegerField(default=15)
    crisis_resources = models.TextField(default=DEFAULT_CRISIS_RESOURCES)
    pcl5_provisional_cutoff = models.PositiveSmallIntegerField(
        default=33, help_text=_("PCL-5 total at or above which PTSD is flagged as probable (31-33, clinic policy).")
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(slot_step_minutes__gte=5), name="clinic_slot_step_min_5"),
            models.CheckConstraint(
                condition=Q(pcl5_provisional_cutoff__gte=31, pcl5_provisional_cutoff__lte=33),
                name="clinic_pcl5_cutoff_31_33",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def patient_facing_name(self) -> str:
        """The name on everything a patient receives or opens: ``message_name`` if set, else ``name``."""
        return self.message_name.strip() or self.name

    def clean(self) -> None:
        # A lock screen showing "Riverside Ketamine Center: your appointment..." breaks the discreet
        # rule as surely as a template naming the drug would.
        if words := treatment_words_in(self.patient_facing_name):
            field = "message_name" if self.message_name.strip() else "name"
            raise ValidationError(
                {
                    field: _(
                        "Patients see this name in their messages, which must not name a drug, treatment "
                        "or diagnosis (found: %(words)s). Set message_name to a discreet name."
                    )
                    % {"words": ", ".join(words)}
                }
            )


class OpeningHours(models.Model):
    """One opening window on a weekday (0 = Monday), in the clinic's local time."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField()
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering = ["weekday", "opens"]
        constraints = [
            models.CheckConstraint(condition=Q(weekday__lte=6), name="opening_hours_weekday_0_6"),
            models.CheckConstraint(condition=Q(opens__lt=models.F("closes")), name="opening_hours_opens_first"),
            models.UniqueConstraint(fields=["clinic", "weekday", "opens"], name="opening_hours_unique_start"),
        ]

    def __str__(self) -> str:
        return f"{self.weekday}: {self.opens}-{self.closes}"


class Closure(models.Model):
    """Dates the clinic is closed (holidays, training days), inclusive."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="closures")
    starts_on = models.DateField()
    ends_on = models.DateField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["starts_on"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_on__gte=models.F("starts_on")), name="closure_dates_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.starts_on}..{self.ends_on}"


class Room(TimeStamped):
    """A treatment chair or room and the modalities it is equipped for."""

    class Kind(models.TextChoices):
        CHAIR = "chair", _("Chair")
        ROOM = "room", _("Room")

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="rooms")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CHAIR)
    modalities = models.JSONField(default=list, blank=True, validators=[validate_modalities])
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["clinic_id", "name"]
        constraints = [models.UniqueConstraint(fields=["clinic", "name"], name="room_unique_name_per_clinic")]

    def __str__(self) -> str:
        return self.name

    def supports(self, modality: str) -> bool:
        return modality in self.modalities


class StaffMember(TimeStamped):
    """A user's membership of one clinic: the roles held there and, for clinicians, a supervision limit."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="staff")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="memberships")
    roles = models.JSONField(default=list, validators=[validate_roles])
    max_concurrent_sessions = models.PositiveSmallIntegerField(
        default=1, help_text=_("How many sessions this clinician may supervise at once.")
    )
    phone = PhoneNumberField(blank=True, help_text=_("Work phone, printed on the REMS monitoring form."))
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["clinic_id", "user__last_name", "user__first_name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "user"], name="staff_one_membership_per_clinic"),
            models.CheckConstraint(condition=Q(max_concurrent_sessions__gte=1), name="staff_max_concurrent_at_least_1"),
        ]

    def __str__(self) -> str:
        return f"{self.user.get_username()} @ {self.clinic_id}"

    @property
    def is_clinician(self) -> bool:
        return bool({Role.NURSE, Role.PRESCRIBER} & set(self.roles))


# Crockford's base32 letters less Z: no I, L, O, U, so an MRN read aloud or retyped is hard to
# get wrong. 31 symbols, a prime: with weights 1..7 the check character catches every single
# substituted character and every swap of two neighbours.
MRN_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXY"
MRN_LENGTH = 7


def mrn_check_character(body: str) -> str:
    """A mod-31 weighted check character, so a mistyped MRN is rejected rather than matched."""
    total = sum((i + 1) * MRN_ALPHABET.index(ch) for i, ch in enumerate(body))
    return MRN_ALPHABET[total % len(MRN_ALPHABET)]


def generate_mrn() -> str:
    body = "".join(secrets.choice(MRN_ALPHABET) for _ in range(MRN_LENGTH))
    return body + mrn_check_character(body)


def mrn_is_well_formed(value: str) -> bool:
    value = value.upper()
    return (
        len(value) == MRN_LENGTH + 1
        and all(ch in MRN_ALPHABET for ch in value)
        and mrn_check_character(value[:-1]) == value[-1]
    )


class CandidacyStatus(models.TextChoices):
    NOT_STARTED = "not_started", _("Not started")
    INVITED = "invited", _("Invited")
    IN_PROGRESS = "in_progress", _("In progress")
    SUBMITTED = "submitted", _("Submitted")
    APPROVED = "approved", _("Approved")
    DECLINED = "declined", _("Declined")
    NEEDS_INFO = "needs_info", _("Needs information")
    EXPIRED = "expired", _("Expired")


class Patient(TimeStamped):
    """A person treated at a clinic. Never deleted: archived, so the clinical record stays whole."""

    class SexAtBirth(models.TextChoices):
        FEMALE = "female", _("Female")
        MALE = "male", _("Male")
        INTERSEX = "intersex", _("Intersex")
        UNKNOWN = "unknown", _("Unknown or not stated")

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField(max_length=MRN_LENGTH + 1, default=generate_mrn, editable=False)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    sex_at_birth = models.CharField(max_length=10, choices=SexAtBirth.choices)
    email = models.EmailField(blank=True)
    phone = PhoneNumberField(blank=True)
    preferred_channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    email_opt_out = models.BooleanField(default=False)
    sms_opt_out = models.BooleanField(default=False)
    rems_patient_id = models.CharField(max_length=50, blank=True)
    emergency_contact_name = models.CharField(max_length=200, blank=True)
    emergency_contact_phone = PhoneNumberField(blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    # Candidacy as last decided by the intake service; "expired" is derived when read (see
    # ``candidacy_status_now``) so no sweep is needed for an approval to lapse.
    candidacy_status = models.CharField(
        max_length=20, choices=CandidacyStatus.choices, default=CandidacyStatus.NOT_STARTED
    )
    candidacy_modalities = models.JSONField(default=list, blank=True)
    candidacy_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [models.UniqueConstraint(fields=["clinic", "mrn"], name="patient_unique_mrn_per_clinic")]
        indexes = [models.Index(fields=["clinic", "last_name", "first_name"], name="patient_name_idx")]

    def __str__(self) -> str:
        # Ids only: str() ends up in logs and admin messages.
        return f"Patient {self.mrn}"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def initials(self) -> str:
        return f"{self.first_name[:1]}{self.last_name[:1]}".upper()

    def candidacy_status_now(self, now: dt.datetime | None = None) -> str:
        if (
            self.candidacy_status == CandidacyStatus.APPROVED
            and self.candidacy_expires_at is not None
            and self.candidacy_expires_at <= (now or timezone.now())
        ):
            return CandidacyStatus.EXPIRED
        return self.candidacy_status


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Audit events are append-only.")

    def delete(self):
        raise TypeError("Audit events are append-only.")


class AuditEvent(models.Model):
    """One read or write of a record, by whom, from where. Append-only.

    The ORM refuses updates and deletes; on PostgreSQL a trigger refuses them too, so not even
    raw SQL can rewrite history. Values are never copied here, only the names of changed fields.
    """

    class Action(models.TextChoices):
        READ = "read", _("Read")
        CREATE = "create", _("Create")
        UPDATE = "update", _("Update")
        ARCHIVE = "archive", _("Archive")
        DELETE = "delete", _("Delete")
        LOGIN = "login", _("Login")
        LOGIN_FAILED = "login_failed", _("Failed login")
        LOGOUT = "logout", _("Logout")
        EXPORT = "export", _("Export")

    class ActorKind(models.TextChoices):
        STAFF = "staff", _("Staff")
        PATIENT_LINK = "patient_link", _("Patient link")
        SYSTEM = "system", _("System")
        ANONYMOUS = "anonymous", _("Anonymous")

    occurred_at = models.DateTimeField(default=timezone.now)
    # No single-column index on the three keys: the (key, -occurred_at) indexes below start with
    # them and serve the same lookups. A calendar page writes up to 200 events; each index is
    # one more insertion per event (seven were a third of the INSERT's PostgreSQL time).
    # No database foreign-key constraint either: checking one takes FOR KEY SHARE on the row it
    # names, so every calendar read locked (and, several readers at once, multixact-locked) the 200
    # patients it showed, writing WAL for each, and queued behind any write holding one of them.
    # The ids always come from rows the same operation read; deleting a clinic, patient or user
    # that has audit events is still refused (PROTECT, enforced by the ORM).
    clinic = models.ForeignKey(
        Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False, db_constraint=False
    )
    actor = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False, db_constraint=False
    )
    actor_kind = models.CharField(max_length=20, choices=ActorKind.choices, default=ActorKind.STAFF)
    action = models.CharField(max_length=20, choices=Action.choices)
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False, db_constraint=False
    )
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    changed_fields = models.JSONField(default=list, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["clinic", "-occurred_at"], name="audit_clinic_time_idx"),
            models.Index(fields=["patient", "-occurred_at"], name="audit_patient_time_idx"),
            models.Index(fields=["actor", "-occurred_at"], name="audit_actor_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Audit events are append-only.")


class Alert(models.Model):
    """A safety alert: a task for a clinician that stays open until acknowledged with a note.

    Raised by intake (suicide-risk answers, high-risk assessments) and by monitoring (dangerous
    vitals, missed checks, sedation). ``dedupe_key`` makes raising idempotent, e.g. one alert
    per missed check. Acknowledging fills the acknowledgement fields once; nothing else changes.
    """

    class Kind(models.TextChoices):
        SUICIDE_RISK = "suicide_risk", _("Suicide risk")
        VITALS = "vitals", _("Vital signs out of range")
        VITALS_OVERDUE = "vitals_overdue", _("Vital signs overdue")
        SEDATION = "sedation", _("Sedation")
        DISSOCIATION = "dissociation", _("Dissociation")
        RESPIRATORY_DEPRESSION = "respiratory_depression", _("Respiratory depression")
        ADVERSE_EVENT = "adverse_event", _("Adverse event")

    class Severity(models.TextChoices):
        INFO = "info", _("Info")
        WARNING = "warning", _("Warning")
        CRITICAL = "critical", _("Critical")

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="alerts")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="alerts")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    message = models.CharField(max_length=300)
    source_type = models.CharField(max_length=60)
    source_id = models.CharField(max_length=64)
    dedupe_key = models.CharField(max_length=120, unique=True, null=True, blank=True)
    # The episode the alert belongs to (e.g. a session's monitoring record), so it can be shown
    # there and block discharge while open. A plain reference: alerts predate the apps raising them.
    scope_type = models.CharField(max_length=40, blank=True)
    scope_id = models.PositiveBigIntegerField(null=True, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    acknowledgement_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [
            models.Index(
                fields=["clinic", "-opened_at"],
                condition=Q(acknowledged_at__isnull=True),
                name="alert_open_by_clinic_idx",
            ),
            models.Index(fields=["patient", "-opened_at"], name="alert_patient_idx"),
            models.Index(fields=["scope_type", "scope_id"], name="alert_scope_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True)
                | (Q(acknowledged_by__isnull=False) & ~Q(acknowledgement_note="")),
                name="alert_acknowledged_with_note",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} alert {self.pk}"

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None


class IdempotencyKey(models.Model):
    """A client's ``Idempotency-Key`` for a POST, claimed in the same transaction as the work.

    Stores a reference to what was created, not the response body, so no patient data is copied
    here; a replay re-renders the resource as it is now, with the original status code.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=300)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    resource_type = models.CharField(max_length=60)
    resource_ids = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"idempotency key {self.pk}"


class OutboundMessage(models.Model):
    """The outbox: one row per message to send, created in the transaction of the change that causes it.

    A beat task claims due rows (SELECT ... FOR UPDATE SKIP LOCKED), re-checks that the reason still
    holds, renders the text at send time, sends and records the outcome. ``dedupe_key`` makes the
    same message impossible to create twice; moving a session moves its rows, cancelling cancels them.
    No message body is stored: it is rendered when sent.
    """

    class Kind(models.TextChoices):
        BOOKING_CONFIRMATION = "booking_confirmation", _("Booking confirmation")
        SESSION_REMINDER = "session_reminder", _("Appointment reminder")
        INTAKE_INVITATION = "intake_invitation", _("Intake invitation")
        SURVEY_INVITATION = "survey_invitation", _("Survey invitation")
        SURVEY_REMINDER = "survey_reminder", _("Survey reminder")
        ALERT_NOTICE = "alert_notice", _("Alert notice to clinicians")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    # Indexed by outbox_clinic_idx (clinic, -scheduled_for), which leads with it.
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+", db_index=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="messages")
    staff = models.ForeignKey(StaffMember, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    recipient = models.CharField(max_length=254, help_text=_("Email address or phone number used."))
    subject_type = models.CharField(max_length=40, help_text=_("What the message is about, e.g. session."))
    subject_id = models.PositiveBigIntegerField()
    about_time = models.DateTimeField(
        null=True, blank=True, help_text=_("The appointment time the message was written for; checked when sent.")
    )
    scheduled_for = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=60, blank=True)
    dedupe_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["scheduled_for", "id"]
        indexes = [
            models.Index(fields=["scheduled_for"], condition=Q(status="pending"), name="outbox_due_idx"),
            models.Index(fields=["lease_expires_at"], condition=Q(status="sending"), name="outbox_lease_idx"),
            models.Index(fields=["subject_type", "subject_id"], name="outbox_subject_idx"),
            models.Index(fields=["clinic", "-scheduled_for"], name="outbox_clinic_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} ({self.status})"
