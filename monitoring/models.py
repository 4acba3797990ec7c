"""The in-session record: pre-dose checks, doses, vitals, scales, adverse events, amendments,
discharge, and the REMS Patient Monitoring Form's submission.

Everything here is append-only. A correction is an ``Amendment`` row (who, when, why, old and
new value) that the timeline shows next to the original, which is never edited or deleted.
The only fields ever filled in after creation are "once" fields (an infusion's end time), which
go from empty to a value exactly once.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinic.models import Clinic, Patient, StaffMember, User
from scheduling.models import Session, TreatmentType


class MonitoringPolicy(models.Model):
    """A clinic's (or one treatment type's) changes to the default alert thresholds and check schedule.

    Layered: product defaults, then the clinic's policy, then the treatment type's. The medical
    director signs off on these values; the product only ships defaults (CLINICAL.md).
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="monitoring_policies")
    treatment_type = models.OneToOneField(
        TreatmentType, on_delete=models.CASCADE, null=True, blank=True, related_name="monitoring_policy"
    )
    thresholds = models.JSONField(default=dict, blank=True, help_text=_("Overrides of monitoring.thresholds."))
    schedule = models.JSONField(default=dict, blank=True, help_text=_("Overrides of monitoring.schedule."))
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic"], condition=Q(treatment_type__isnull=True), name="monitoring_policy_one_per_clinic"
            ),
        ]

    def __str__(self) -> str:
        return f"monitoring policy {self.pk}"


class MonitoringRecord(models.Model):
    """One per session: opened by a nurse at check-in, with the pre-dose checks."""

    class PregnancyTest(models.TextChoices):
        NEGATIVE = "negative", _("Negative")
        POSITIVE = "positive", _("Positive")
        NOT_APPLICABLE = "not_applicable", _("Not applicable")
        DECLINED = "declined", _("Declined")

    session = models.OneToOneField(Session, on_delete=models.PROTECT, related_name="monitoring")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="monitoring_records")
    modality = models.CharField(max_length=20)
    opened_at = models.DateTimeField(default=timezone.now)
    opened_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    # Pre-dose checks.
    hours_since_food = models.DecimalField(max_digits=4, decimal_places=1)
    hours_since_liquids = models.DecimalField(max_digits=4, decimal_places=1)
    escort_confirmed = models.BooleanField()
    benzodiazepines = models.BooleanField()
    sedative_hypnotics = models.BooleanField()
    psychostimulants = models.BooleanField()
    maois = models.BooleanField()
    medications_confirmed = models.BooleanField()
    pregnancy_test = models.CharField(max_length=20, choices=PregnancyTest.choices)
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1)
    rems_enrollment_confirmed = models.BooleanField(default=False)
    prescriber_on_site = models.ForeignKey(
        StaffMember, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    first_rems_treatment = models.BooleanField(default=False, help_text=_("The patient's first esketamine session."))
    # Set once, from the first dose: the session clock.
    first_dose_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]

    def __str__(self) -> str:
        return f"monitoring record {self.pk}"


class Dose(models.Model):
    """One administration: an esketamine device, an IV infusion, or an IM injection."""

    class Route(models.TextChoices):
        INTRANASAL = "intranasal", _("Intranasal")
        INTRAVENOUS = "intravenous", _("Intravenous")
        INTRAMUSCULAR = "intramuscular", _("Intramuscular")

    record = models.ForeignKey(MonitoringRecord, on_delete=models.PROTECT, related_name="doses")
    drug = models.CharField(max_length=40)
    route = models.CharField(max_length=20, choices=Route.choices)
    dose_mg = models.DecimalField(max_digits=6, decimal_places=2)
    dose_mg_per_kg = models.DecimalField(max_digits=5, decimal_places=3, null=True, blank=True)
    device_number = models.PositiveSmallIntegerField(null=True, blank=True, help_text=_("Esketamine device 1-3."))
    lot_number = models.CharField(max_length=40)
    administered_at = models.DateTimeField(help_text=_("Device use, injection, or infusion start."))
    infusion_ended_at = models.DateTimeField(null=True, blank=True)
    administered_by = models.ForeignKey(StaffMember, on_delete=models.PROTECT, related_name="+")
    overridden = models.JSONField(default=list, blank=True, help_text=_("Pre-dose refusals a prescriber overrode."))
    override_by = models.ForeignKey(StaffMember, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    override_reason = models.TextField(blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["administered_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["record", "device_number"], condition=Q(device_number__isnull=False), name="dose_device_once"
            ),
            models.CheckConstraint(condition=Q(dose_mg__gt=0), name="dose_positive"),
            models.CheckConstraint(
                condition=Q(infusion_ended_at__isnull=True) | Q(infusion_ended_at__gt=models.F("administered_at")),
                name="dose_infusion_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(overridden=[]) | (Q(override_by__isnull=False) & ~Q(override_reason="")),
                name="dose_override_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"dose {self.pk}"


class VitalSign(models.Model):
    """One set of vital signs; impossible values never get here (validated), dangerous ones raise alerts."""

    class Source(models.TextChoices):
        MANUAL = "manual", _("Entered by staff")
        MONITOR = "monitor", _("Uploaded by a monitor")

    record = models.ForeignKey(MonitoringRecord, on_delete=models.PROTECT, related_name="vitals")
    taken_at = models.DateTimeField()
    systolic = models.PositiveSmallIntegerField(null=True, blank=True)
    diastolic = models.PositiveSmallIntegerField(null=True, blank=True)
    heart_rate = models.PositiveSmallIntegerField(null=True, blank=True)
    spo2 = models.PositiveSmallIntegerField(null=True, blank=True)
    respiratory_rate = models.PositiveSmallIntegerField(null=True, blank=True)
    temperature_c = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    pre_dose = models.BooleanField(help_text=_("Taken before the first dose (the baseline)."))
    findings = models.JSONField(default=list, blank=True, help_text=_("What the thresholds found at the time."))
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["taken_at", "id"]
        indexes = [models.Index(fields=["record", "taken_at"], name="vitals_record_time_idx")]

    def __str__(self) -> str:
        return f"vitals {self.pk}"


class ScaleScore(models.Model):
    """A sedation (MOAA/S) or dissociation (CADSS total) rating."""

    class Scale(models.TextChoices):
        MOAAS = "moaas", _("MOAA/S (0-5)")
        CADSS = "cadss", _("CADSS total (0-92)")

    record = models.ForeignKey(MonitoringRecord, on_delete=models.PROTECT, related_name="scales")
    scale = models.CharField(max_length=10, choices=Scale.choices)
    value = models.PositiveSmallIntegerField()
    taken_at = models.DateTimeField()
    pre_dose = models.BooleanField()
    findings = models.JSONField(default=list, blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["taken_at", "id"]

    def __str__(self) -> str:
        return f"{self.scale} {self.pk}"


class AdverseEvent(models.Model):
    class Type(models.TextChoices):
        NAUSEA = "nausea", _("Nausea")
        VOMITING = "vomiting", _("Vomiting")
        HYPERTENSION = "hypertension", _("Raised blood pressure")
        TACHYCARDIA = "tachycardia", _("Fast heart rate")
        SEDATION = "sedation", _("Sedation")
        DISSOCIATION = "dissociation", _("Dissociation")
        RESPIRATORY_DEPRESSION = "respiratory_depression", _("Respiratory depression")
        ANXIETY = "anxiety", _("Anxiety or agitation")
        HEADACHE = "headache", _("Headache")
        DIZZINESS = "dizziness", _("Dizziness")
        CHEST_PAIN = "chest_pain", _("Chest pain")
        SEIZURE = "seizure", _("Seizure")
        ALLERGIC = "allergic_reaction", _("Allergic reaction")
        OTHER = "other", _("Other")

    class Severity(models.TextChoices):
        MILD = "mild", _("Mild")
        MODERATE = "moderate", _("Moderate")
        SEVERE = "severe", _("Severe")
        LIFE_THREATENING = "life_threatening", _("Life-threatening")

    class Outcome(models.TextChoices):
        RESOLVED = "resolved", _("Resolved")
        RESOLVING = "resolving", _("Resolving")
        ONGOING = "ongoing", _("Ongoing")
        TRANSFERRED = "transferred", _("Transferred to emergency care")
        UNKNOWN = "unknown", _("Unknown")

    record = models.ForeignKey(MonitoringRecord, on_delete=models.PROTECT, related_name="adverse_events")
    type = models.CharField(max_length=30, choices=Type.choices)
    description = models.TextField(blank=True)
    severity = models.CharField(max_length=20, choices=Severity.choices)
    serious = models.BooleanField(help_text=_("A serious adverse event (reported on the REMS form)."))
    onset_at = models.DateTimeField()
    actions_taken = models.TextField(blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["onset_at", "id"]

    def __str__(self) -> str:
        return f"adverse event {self.pk}"


class Amendment(models.Model):
    """A correction of one recorded value: the original stays, this row says what it should be."""

    record = models.ForeignKey(MonitoringRecord, on_delete=models.PROTECT, related_name="amendments")
    target_type = models.CharField(max_length=30)
    target_id = models.PositiveBigIntegerField()
    field = models.CharField(max_length=40)
    old_value = models.JSONField(null=True)
    new_value = models.JSONField(null=True)
    reason = models.TextField()
    amended_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    amended_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["amended_at", "id"]

    def __str__(self) -> str:
        return f"amendment {self.pk}"


class Discharge(models.Model):
    """The end of monitoring: the criteria as judged, and any prescriber override with its reason."""

    record = models.OneToOneField(MonitoringRecord, on_delete=models.PROTECT, related_name="discharge")
    discharged_at = models.DateTimeField(default=timezone.now)
    discharged_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    alert_and_oriented = models.BooleanField()
    able_to_walk = models.BooleanField()
    escort_present = models.BooleanField()
    vitals_within_limits = models.BooleanField(help_text=_("Computed from the last reading at discharge."))
    ready_minutes_without_rule = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text=_("REMS: minutes after the first device the patient would have been ready without the 2-hour rule."),
    )
    overridden = models.JSONField(default=list, blank=True, help_text=_("Refusals a prescriber overrode."))
    override_by = models.ForeignKey(StaffMember, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    override_reason = models.TextField(blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(overridden=[]) | (Q(override_by__isnull=False) & ~Q(override_reason="")),
                name="discharge_override_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"discharge {self.pk}"


class RemsFormSubmission(models.Model):
    """That the Patient Monitoring Form of an esketamine session was sent to the REMS (due within 7 days)."""

    record = models.OneToOneField(MonitoringRecord, on_delete=models.PROTECT, related_name="rems_submission")
    submitted_at = models.DateTimeField(default=timezone.now)
    submitted_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    confirmation = models.CharField(max_length=100, blank=True, help_text=_("Reference given by the REMS portal."))

    def __str__(self) -> str:
        return f"REMS submission {self.pk}"
