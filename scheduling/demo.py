"""The demo clinic's schedule: treatment types, clinicians' hours, and a realistic fortnight.

Runs the real services, so every demo session passed the same checks a front desk booking does.
Idempotent: types and hours are created once; sessions are booked only when the demo has none
in the coming fortnight (a demo re-seeded weeks later gets a fresh fortnight).
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from clinic.access import Role
from clinic.demo import DemoContext
from clinic.errors import ApplicationError
from clinic.models import Patient
from scheduling.models import Session, TreatmentType
from scheduling.protocols import local_datetime
from scheduling.services.booking import session_book
from scheduling.services.configuration import availability_replace_weekly, treatment_type_create
from scheduling.services.series import series_book

TREATMENT_TYPES = [
    # name, modality, chair minutes, turnover, min hours between, REMS
    ("IV ketamine infusion (0.5 mg/kg over 40 min)", "iv_ketamine", 110, 15, 40, False),
    ("IM ketamine", "im_ketamine", 60, 15, 40, False),
    ("Esketamine nasal spray 56/84 mg", "esketamine_nasal", 140, 15, 48, True),
]
WEEKDAY_HOURS = [(day, dt.time(8), dt.time(18)) for day in range(5)]


def _types(context: DemoContext) -> dict[str, TreatmentType]:
    admin = context.actors[Role.CLINIC_ADMIN]
    by_modality = {}
    for name, modality, minutes, turnover, gap, rems in TREATMENT_TYPES:
        treatment_type = TreatmentType.objects.filter(clinic=context.clinic, name=name).first()
        if treatment_type is None:
            treatment_type = treatment_type_create(
                actor=admin,
                clinic_id=context.clinic.pk,
                data={
                    "name": name,
                    "modality": modality,
                    "duration_minutes": minutes,
                    "turnover_minutes": turnover,
                    "min_hours_between": gap,
                    "requires_rems_enrollment": rems,
                },
            )
        by_modality[modality] = treatment_type
    return by_modality


def _hours(context: DemoContext) -> None:
    admin = context.actors[Role.CLINIC_ADMIN]
    for role in (Role.NURSE, Role.PRESCRIBER):
        member = context.members[role]
        if not member.availability_windows.exists():
            availability_replace_weekly(
                actor=admin,
                member=member,
                windows=[{"weekday": d, "starts": s, "ends": e} for d, s, e in WEEKDAY_HOURS],
            )


def _next_weekday(day: dt.date, weekday: int) -> dt.date:
    return day + dt.timedelta(days=(weekday - day.weekday()) % 7 or 7)


def seed_schedule(context: DemoContext) -> int:
    """Returns the number of sessions booked by this run."""
    types = _types(context)
    _hours(context)
    clinic = context.clinic
    tz = clinic.tz
    today = timezone.localdate(timezone.now(), tz)
    horizon = local_datetime(today + dt.timedelta(days=14), dt.time(0), tz)
    if Session.objects.filter(clinic=clinic, starts_at__gte=timezone.now(), starts_at__lt=horizon).exists():
        return 0
    desk = context.actors[Role.FRONT_DESK]
    patients = {p.first_name: p for p in Patient.objects.filter(clinic=clinic)}
    booked = 0
    monday = _next_weekday(today, 0)

    # An esketamine induction for Avery (approved, REMS-enrolled): twice weekly from next Monday.
    course = series_book(
        actor=desk,
        patient=patients["Avery"],
        treatment_type=types["esketamine_nasal"],
        protocol_code="esketamine-trd-induction",
        first_start=local_datetime(monday, dt.time(9), tz),
    )
    booked += course.sessions.count()
    # An IV induction for Jordan: Monday, Wednesday, Friday at 10:00.
    course = series_book(
        actor=desk,
        patient=patients["Jordan"],
        treatment_type=types["iv_ketamine"],
        protocol_code="iv-induction",
        first_start=local_datetime(monday, dt.time(10), tz),
    )
    booked += course.sessions.count()
    # Single sessions sprinkled over the fortnight for Sam (esketamine) and Frances-style walk-ins.
    for offset, hour in ((1, 13), (8, 13)):
        try:
            session_book(
                actor=desk,
                patient=patients["Sam"],
                treatment_type=types["esketamine_nasal"],
                starts_at=local_datetime(monday + dt.timedelta(days=offset), dt.time(hour), tz),
            )
            booked += 1
        except ApplicationError:
            continue  # a busy demo day: skip rather than fail the seed
    # Today, if the clinic is open and it is not too late, one IM session to check in and monitor.
    if today.weekday() < 5:
        for hour in (14, 15, 16):
            start = local_datetime(today, dt.time(hour), tz)
            if start <= timezone.now():
                continue
            try:
                session_book(
                    actor=desk, patient=patients["Jordan"], treatment_type=types["im_ketamine"], starts_at=start
                )
                booked += 1
                break
            except ApplicationError:
                continue
    return booked
