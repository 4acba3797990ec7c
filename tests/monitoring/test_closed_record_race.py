"""A write that waits for a discharge to commit sees the discharge (PostgreSQL, threads).

Under READ COMMITTED a statement reads the database as it was when it began. A write whose
locking statement also read "is there a discharge?" would, after waiting for the discharge's lock,
still see none and write to the closed record. The lock is therefore taken on its own and the
record read after it (``monitoring.services.record._lock_row``).
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from monitoring.models import Discharge, MonitoringRecord, ScaleScore, VitalSign
from tests.monitoring.conftest import at
from tests.monitoring.test_session_flow import _dosed, scale, vitals

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _waiting_for_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def _discharge_once_a_writer_waits(record_id: int, user) -> tuple[threading.Thread, threading.Event, list]:
    """Lock the record and insert its discharge, then commit only once another backend waits for the lock."""
    locked, seen_waiting = threading.Event(), []

    def run() -> None:
        try:
            with transaction.atomic():
                MonitoringRecord.objects.select_for_update().get(pk=record_id)
                Discharge.objects.create(
                    record_id=record_id,
                    discharged_by=user,
                    alert_and_oriented=True,
                    able_to_walk=True,
                    escort_present=True,
                    vitals_within_limits=True,
                )
                locked.set()
                deadline = time.monotonic() + 10
                while not _waiting_for_a_lock() and time.monotonic() < deadline:
                    time.sleep(0.02)
                seen_waiting.append(bool(_waiting_for_a_lock()))
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert locked.wait(timeout=10)
    return thread, locked, seen_waiting


@pytest.mark.parametrize("write", ["vitals", "sedation score"])
def test_a_write_that_waited_for_a_discharge_is_refused(ward, write):
    record_id = _dosed(ward)
    ward.clock.move_to(at(9, 40))
    vitals_before, scores_before = VitalSign.objects.count(), ScaleScore.objects.count()
    thread, _, seen_waiting = _discharge_once_a_writer_waits(record_id, ward.nurse.user)
    if write == "vitals":
        response = vitals(ward, record_id, systolic=118, diastolic=76, heart_rate=70, spo2=98)
    else:
        response = scale(ward, record_id, "moaas", 5)
    thread.join(timeout=30)
    assert seen_waiting == [True]  # the write really waited for the discharge's lock
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "record_closed"
    assert (VitalSign.objects.count(), ScaleScore.objects.count()) == (vitals_before, scores_before)
