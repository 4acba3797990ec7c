"""Treatment types, clinician availability, courses and sessions.

The database holds the rule that matters most: on PostgreSQL, exclusion constraints make two
active sessions overlapping in one room (turnover included) or for one patient impossible,
whoever writes. SQLite, the embedded default, cannot express them; there the booking service
runs in serialised (IMMEDIATE) transactions and checks the same rules first.
"""

from __future__ import annotations

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeBoundary, RangeOperators
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField

from clinic.models import Clinic, Modality, Patient, Room, StaffMember, TimeStamped, User

# Esketamine REMS: at least 2 hours of monitoring after the first device, plus a few minutes of
# dosing and pre-dose checks, must fit in the chair time.
ESKETAMINE_MIN_CHAIR_MINUTES = 130
# IV: the infusion (0.5 mg/kg over 40 minutes [V], Andrade 2017) and then the observation after
# it. CLINICAL.md: about 90 minutes for new patients, shorter later [V2] (McLean); the floor is the
# shorter, returning-patient observation that monitoring enforces at discharge by default (60
# minutes, monitoring.schedule.DEFAULT_CONFIGS; a test keeps the two equal). A chair booked for
# less would be given to the next patient while this one is still being observed. Clinics set
# their new-patient treatment type longer (40 + 90 = 130).
IV_INFUSION_MINUTES = 40
IV_MIN_OBSERVATION_MINUTES = 60
IV_MIN_CHAIR_MINUTES = IV_INFUSION_MINUTES + IV_MIN_OBSERVATION_MINUTES
# A session holds its chair (its duration and turnover) for at most a day: far beyond any
# treatment, and the bound that lets a calendar read find the sessions overlapping a window with
# an index range on their start (see scheduling.selectors).
MAX_CHAIR_MINUTES = 24 * 60


class TsTzRange(models.Func):
    """tstzrange(start, end, '[)'): half-open, so back-to-back sessions do not collide."""

    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class TreatmentType(TimeStamped):
    """What a session is: its modality, how long it holds a chair, and the rules around it."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="treatment_types")
    name = models.CharField(max_length=100)
    modality = models.CharField(max_length=20, choices=Modality.choices)
    duration_minutes = models.PositiveSmallIntegerField(
        help_text=_("Chair time, including dosing and the post-dose monitoring or observation.")
    )
    turnover_minutes = models.PositiveSmallIntegerField(default=15, help_text=_("Cleaning and reset after a session."))
    min_hours_between = models.PositiveSmallIntegerField(
        default=24, help_text=_("Minimum hours between the starts of two sessions of one patient.")
    )
    requires_rems_enrollment = models.BooleanField(default=False)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["clinic_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="treatment_type_unique_name"),
            models.CheckConstraint(condition=Q(duration_minutes__gte=5), name="treatment_type_duration_min"),
            models.CheckConstraint(
                condition=Q(duration_minutes__lte=MAX_CHAIR_MINUTES - F("turnover_minutes")),
                name="treatment_type_chair_at_most_a_day",
            ),
            models.CheckConstraint(
                condition=~Q(modality=Modality.ESKETAMINE_NASAL) | Q(requires_rems_enrollment=True),
                name="treatment_type_esketamine_needs_rems",
            ),
            models.CheckConstraint(
                condition=~Q(modality=Modality.ESKETAMINE_NASAL)
                | Q(duration_minutes__gte=ESKETAMINE_MIN_CHAIR_MINUTES),
                name="treatment_type_esketamine_monitoring",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.modality == Modality.ESKETAMINE_NASAL:
            if self.duration_minutes is not None and self.duration_minutes < ESKETAMINE_MIN_CHAIR_MINUTES:
                errors["duration_minutes"] = [
                    f"Esketamine needs at least {ESKETAMINE_MIN_CHAIR_MINUTES} minutes: 2 hours of monitoring "
                    "after the dose (REMS) plus dosing."
                ]
            if not self.requires_rems_enrollment:
                errors["requires_rems_enrollment"] = ["Esketamine is only given to patients enrolled in the REMS."]
        if (
            self.modality == Modality.IV_KETAMINE
            and self.duration_minutes is not None
            and self.duration_minutes < IV_MIN_CHAIR_MINUTES
        ):
            errors["duration_minutes"] = [
                f"IV chair time needs at least {IV_MIN_CHAIR_MINUTES} minutes: the {IV_INFUSION_MINUTES}-minute "
                f"infusion and at least {IV_MIN_OBSERVATION_MINUTES} minutes of observation after it."
            ]
        if (
            self.duration_minutes is not None
            and self.turnover_minutes is not None
            and self.duration_minutes + self.turnover_minutes > MAX_CHAIR_MINUTES
        ):
            errors.setdefault("duration_minutes", []).append(
                f"A session holds its chair for at most {MAX_CHAIR_MINUTES} minutes, turnover included."
            )
        if errors:
            raise ValidationError(errors)


class AvailabilityWindow(models.Model):
    """A weekly window in which a clinician can supervise sessions (clinic's local time)."""

    staff_member = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="availability_windows")
    weekday = models.PositiveSmallIntegerField()
    starts = models.TimeField()
    ends = models.TimeField()

    class Meta:
        ordering = ["staff_member_id", "weekday", "starts"]
        constraints = [
            models.CheckConstraint(condition=Q(weekday__lte=6), name="availability_weekday_0_6"),
            models.CheckConstraint(condition=Q(starts__lt=F("ends")), name="availability_starts_first"),
        ]

    def __str__(self) -> str:
        return f"{self.weekday} {self.starts}-{self.ends}"


class TimeOff(models.Model):
    """A dated absence: no sessions may be supervised in it."""

    staff_member = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="time_off")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["staff_member_id", "starts_at"]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="time_off_ordered")]

    def __str__(self) -> str:
        return f"{self.starts_at:%Y-%m-%d}..{self.ends_at:%Y-%m-%d}"


class Course(TimeStamped):
    """A course of treatment booked from a protocol: the series its sessions belong to."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="courses")
    treatment_type = models.ForeignKey(TreatmentType, on_delete=models.PROTECT, related_name="+")
    protocol = models.CharField(max_length=50)
    weekdays = models.JSONField(default=list)
    time_of_day = models.TimeField(help_text=_("Local wall time of the sessions; stays put across DST."))
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"course {self.pk} ({self.protocol})"


class Session(models.Model):
    """One treatment session in a chair, with its supervising clinician and lifecycle."""

    class Status(models.TextChoices):
        BOOKED = "booked", _("Booked")
        CHECKED_IN = "checked_in", _("Checked in")
        IN_PROGRESS = "in_progress", _("In progress")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")
        NO_SHOW = "no_show", _("No show")

    ACTIVE = (Status.BOOKED, Status.CHECKED_IN, Status.IN_PROGRESS)

    # No single-column indexes on these four: the (column, starts_at) indexes below lead with them
    # and serve the same lookups, and every booking would write four more index entries.
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="sessions", db_index=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="sessions", db_index=False)
    treatment_type = models.ForeignKey(TreatmentType, on_delete=models.PROTECT, related_name="sessions")
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="sessions", db_index=False)
    clinician = models.ForeignKey(
        StaffMember, on_delete=models.PROTECT, related_name="supervised_sessions", db_index=False
    )
    course = models.ForeignKey(Course, on_delete=models.PROTECT, null=True, blank=True, related_name="sessions")
    sequence = models.PositiveSmallIntegerField(null=True, blank=True, help_text=_("Position in the course."))
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    occupied_until = models.DateTimeField(help_text=_("End plus turnover: the chair is busy until then."))
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.BOOKED)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    checked_in_at = models.DateTimeField(null=True, blank=True)
    escort_name = models.CharField(max_length=200, blank=True)
    escort_phone = PhoneNumberField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=300, blank=True)
    late_cancellation = models.BooleanField(default=False)
    no_show_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [
            models.Index(fields=["clinic", "starts_at"], name="session_clinic_start_idx"),
            models.Index(fields=["clinician", "starts_at"], name="session_clinician_start_idx"),
            models.Index(fields=["patient", "starts_at"], name="session_patient_start_idx"),
            models.Index(fields=["room", "starts_at"], name="session_room_start_idx"),
        ]
        # On PostgreSQL the table also holds "session_holds_chair_at_most_a_day" (occupied_until at
        # most a day after starts_at; migration 0003): the calendar reads rely on it.
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="session_ends_after_start"),
            models.CheckConstraint(condition=Q(occupied_until__gte=F("ends_at")), name="session_turnover_after_end"),
            ExclusionConstraint(
                name="session_no_room_overlap",
                expressions=[
                    (TsTzRange("starts_at", "occupied_until", RangeBoundary()), RangeOperators.OVERLAPS),
                    ("room", RangeOperators.EQUAL),
                ],
                condition=Q(status__in=["booked", "checked_in", "in_progress"]),
                violation_error_code="room_unavailable",
            ),
            ExclusionConstraint(
                name="session_no_patient_overlap",
                expressions=[
                    (TsTzRange("starts_at", "ends_at", RangeBoundary()), RangeOperators.OVERLAPS),
                    ("patient", RangeOperators.EQUAL),
                ],
                condition=Q(status__in=["booked", "checked_in", "in_progress"]),
                violation_error_code="patient_overlap",
            ),
        ]

    def __str__(self) -> str:
        return f"session {self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class SessionEvent(models.Model):
    """The session's history, append-only: booked, moved (old and new times), cancelled, ..."""

    class Kind(models.TextChoices):
        BOOKED = "booked", _("Booked")
        RESCHEDULED = "rescheduled", _("Rescheduled")
        CANCELLED = "cancelled", _("Cancelled")
        CHECKED_IN = "checked_in", _("Checked in")
        NO_SHOW = "no_show", _("No show")
        STARTED = "started", _("Started")
        COMPLETED = "completed", _("Completed")

    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.session_id}"
