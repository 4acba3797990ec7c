"""Fixtures of the outbox tests: a bookable clinic on a frozen, movable clock and a clean SMS outbox.

The clock starts on Monday 2027-03-01 12:00 New York time, like the scheduling tests; tests move it
with ``clock.move_to(...)`` to the moment a message falls due and run the dispatcher there.
"""

from __future__ import annotations

import pytest
import time_machine
from celery.signals import setup_logging

from clinic.messaging.sms import LocmemSmsBackend
from tests.messaging.helpers import build_world
from tests.scheduling.helpers import NOW, World


@setup_logging.connect(weak=False)
def _leave_test_logging_alone(**_kwargs) -> None:
    """An embedded worker must not reconfigure this process's logging.

    Without a ``setup_logging`` receiver Celery takes over the root logger each time a worker starts:
    it drops the handlers (the PHI guard among them) and, from the second start in a process on, sets
    the root level to ERROR, so later tests would log, and be scanned, at ERROR only. Any receiver
    makes Celery leave logging as configured.
    """


@pytest.fixture(autouse=True)
def sms_outbox():
    """The test SMS backend keeps messages on the class: start and end every test empty."""
    LocmemSmsBackend.outbox.clear()
    yield LocmemSmsBackend.outbox
    LocmemSmsBackend.outbox.clear()


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def world(db, clock, make_staff, client_for) -> World:
    return build_world(make_staff, client_for)
