"""R, the reference availability search (research section 2.4 and 8): one range query, then a bitset
sweep over quarter hours in Python. Written independently of ``scheduling.availability`` so that
the project's output can be checked against it (same slots, same rooms, same clinicians).

The clinic's configuration (opening hours, windows, which rooms and clinicians) is taken as given
from the dataset: only the session fetch and the sweep are timed, as in the research.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bench import common

QUARTER = dt.timedelta(minutes=15)
# Epoch seconds straight from the database: no datetime objects for 2,000 rows.
SQL = (
    "SELECT room_id, clinician_id, extract(epoch FROM starts_at)::bigint, extract(epoch FROM ends_at)::bigint, "
    "extract(epoch FROM occupied_until)::bigint FROM scheduling_session "
    "WHERE clinic_id = %s AND status IN ('booked', 'checked_in', 'in_progress') "
    "AND starts_at < %s AND occupied_until > %s"
)


def fetch(cursor, clinic_id: int, start: dt.datetime, end: dt.datetime) -> list[tuple]:
    margin = dt.timedelta(days=1)
    cursor.execute(SQL, [clinic_id, end + margin, start - margin])
    return cursor.fetchall()


def candidates(start: dt.datetime, end: dt.datetime, duration: dt.timedelta) -> list[dt.datetime]:
    """Starts every 15 minutes from 08:00 local whose session ends by 20:00, inside [start, end)."""
    tz = ZoneInfo(common.CLINIC_TZ)
    day, last = start.astimezone(tz).date() - dt.timedelta(days=1), end.astimezone(tz).date()
    found = []
    while day <= last:
        opens, closes = common.local(day, common.OPEN_HOUR), common.local(day, common.CLOSE_HOUR)
        s = opens.astimezone(dt.UTC)
        while s + duration <= closes.astimezone(dt.UTC):
            if start <= s < end:
                found.append(s)
            s += QUARTER
        day += dt.timedelta(days=1)
    return found


def sweep(
    rows: list[tuple],
    start: dt.datetime,
    end: dt.datetime,
    rooms: list[int],
    clinicians: list[int],
    *,
    duration_min: int = common.DURATION_MIN,
    turnover_min: int = common.TURNOVER_MIN,
    with_rooms: bool = True,
) -> list[tuple[dt.datetime, tuple[int, ...], tuple[int, ...]]]:
    """Every start with at least one free room (duration + turnover) and one free clinician (duration)."""
    origin = int((start - dt.timedelta(days=2)).timestamp())

    def q(t: int) -> int:
        return (t - origin) // 900  # quarter hours since origin

    room_busy = dict.fromkeys(rooms, 0)
    clinician_busy = dict.fromkeys(clinicians, 0)
    for room_id, clinician_id, starts_at, ends_at, occupied_until in rows:
        a = q(starts_at)
        if room_id in room_busy:
            room_busy[room_id] |= ((1 << (q(occupied_until) - a)) - 1) << a
        if clinician_id in clinician_busy:
            clinician_busy[clinician_id] |= ((1 << (q(ends_at) - a)) - 1) << a
    width = q(int(end.timestamp())) + 8
    room_free = _free_starts(room_busy, (duration_min + turnover_min) // 15, width)
    clinician_free = _free_starts(clinician_busy, duration_min // 15, width)
    out = []
    for s in candidates(start, end, dt.timedelta(minutes=duration_min)):
        i = q(int(s.timestamp()))
        free_clinicians = tuple(c for c, bits in clinician_free if bits[i] == "1")
        if not free_clinicians:
            continue
        if with_rooms:
            free_rooms = tuple(r for r, bits in room_free if bits[i] == "1")
            if not free_rooms:
                continue
        else:
            free_rooms = ()
        out.append((s, free_rooms, free_clinicians))
    return out


def _free_starts(busy: dict[int, int], length: int, width: int) -> list[tuple[int, str]]:
    """Per resource (by id), a string whose character i is "1" when [i, i + length) quarters are free."""
    out = []
    for resource_id in sorted(busy):
        blocked = 0
        for k in range(length):
            blocked |= busy[resource_id] >> k
        bits = bin(blocked)[2:].zfill(width)[::-1]
        out.append((resource_id, bits.replace("0", "f").replace("1", "0").replace("f", "1")))
    return out
