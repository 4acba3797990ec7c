"""The week calendar's entries, built from ``scheduling.calendar_page`` rows.

``SessionSerializer`` is the schema of a calendar entry and renders single sessions. A calendar
page is up to 200 entries: building them from plain rows, with no model instances, is most of
what the page saves; a test holds every entry equal to what the serializer's declared fields give.

The rows' timestamps are PostgreSQL's text for a UTC instant (``2027-03-02 14:00:00+00``), or
naive UTC datetimes from SQLite (the embedded mode's database): each distinct one is converted once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from rest_framework.fields import DateTimeField

from scheduling.models import Session


def instant(value: str | dt.datetime) -> dt.datetime:
    """A database timestamp (text, or SQLite's naive datetime) as an aware datetime; naive is UTC,
    as Django stores it."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


class _LocalIso(dict):
    """Database timestamp -> ISO 8601 in one clinic's zone, with its offset; sessions share their starts."""

    def __init__(self, tz: ZoneInfo) -> None:
        super().__init__()
        self.tz = tz

    def __missing__(self, value: str | dt.datetime) -> str:
        iso = self[value] = instant(value).astimezone(self.tz).isoformat()
        return iso


_phone = Session._meta.get_field("escort_phone").to_python


def calendar_entries(rows: Iterable[tuple]) -> list[dict]:
    """One entry per ``calendar_page.CALENDAR_ROW`` row (the fields of ``SessionSerializer``, in its order)."""
    moment = DateTimeField().to_representation
    zones: dict[str, _LocalIso] = {}
    entries = []
    for (
        pk,
        clinic_id,
        patient_id,
        patient_first_name,
        patient_last_name,
        patient_mrn,
        treatment_type_id,
        treatment_type_name,
        modality,
        room_id,
        room_name,
        clinician_id,
        clinician_first_name,
        clinician_last_name,
        clinician_username,
        course_id,
        sequence,
        starts_at,
        ends_at,
        occupied_until,
        status,
        checked_in_at,
        escort_name,
        escort_phone,
        cancelled_at,
        cancel_reason,
        late_cancellation,
        timezone,
    ) in rows:
        local = zones.get(timezone)
        if local is None:
            local = zones[timezone] = _LocalIso(ZoneInfo(timezone))
        entries.append(
            {
                "id": pk,
                "clinic": clinic_id,
                "patient": patient_id,
                "patient_name": f"{patient_first_name} {patient_last_name}",
                "patient_mrn": patient_mrn,
                "treatment_type": treatment_type_id,
                "treatment_type_name": treatment_type_name,
                "modality": modality,
                "room": room_id,
                "room_name": room_name,
                "clinician": clinician_id,
                # User.get_full_name() or get_username()
                "clinician_name": f"{clinician_first_name} {clinician_last_name}".strip() or clinician_username,
                "course": course_id,
                "sequence": sequence,
                "start": local[starts_at],
                "end": local[ends_at],
                "occupied_until": local[occupied_until],
                "status": status,
                "checked_in_at": moment(instant(checked_in_at)) if checked_in_at is not None else None,
                "escort_name": escort_name,
                "escort_phone": str(_phone(escort_phone)) if escort_phone is not None else None,
                "cancelled_at": moment(instant(cancelled_at)) if cancelled_at is not None else None,
                "cancel_reason": cancel_reason,
                "late_cancellation": bool(late_cancellation),  # SQLite answers 0 or 1
            }
        )
    return entries
