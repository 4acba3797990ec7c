"""A bookable clinic: New York time, open 08:00-20:00, one chair, one nurse, an approved patient.

The clock is frozen on Monday 2027-03-01 12:00 New York time (17:00 UTC) unless a test moves it.
"""

from __future__ import annotations

import pytest
import time_machine

from tests.scheduling.helpers import NOW, World, build_world


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def world(db, frozen_now, make_staff, client_for) -> World:
    return build_world(make_staff, client_for)
