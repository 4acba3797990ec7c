"""Two dispatchers at once (threads, one PostgreSQL connection each) take disjoint rows through
``SELECT ... FOR UPDATE SKIP LOCKED``, and every due message goes out exactly once."""

from __future__ import annotations

import threading

import pytest
import time_machine
from django.core import mail
from django.db import connection, connections

from clinic.messaging import outbox
from clinic.models import OutboundMessage
from intake.messages import survey_create
from intake.services.questionnaires import questionnaires_sync
from tests.factories.clinic import ClinicFactory, PatientFactory
from tests.messaging.helpers import Kind, Status
from tests.scheduling.helpers import NOW

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MESSAGES = 60


def test_two_racing_dispatchers_claim_disjoint_rows_and_send_each_once():
    assert connection.vendor == "postgresql"
    questionnaires_sync()  # an earlier transactional test may have flushed the shipped definitions
    with time_machine.travel(NOW, tick=False):
        clinic = ClinicFactory(name="Riverside clinic")
        for n in range(MESSAGES):
            survey_create(patient=PatientFactory(clinic=clinic), codes=("phq9",), send_at=NOW, reason=f"race:{n}")
        due = set(
            OutboundMessage.objects.filter(scheduled_for__lte=NOW, status=Status.PENDING).values_list("pk", flat=True)
        )
        assert len(due) == MESSAGES

        barrier = threading.Barrier(2)
        claimed: list[list[int]] = [[], []]
        sent: list[list[int]] = [[], []]
        errors: list[BaseException] = []

        def dispatcher(index: int) -> None:
            try:
                barrier.wait(timeout=30)
                while (claim := outbox.claim(limit=4)).ids:
                    claimed[index].extend(claim.ids)
                    sent[index].extend(outbox.deliver(claim.ids, lease=claim.lease).sent)
            except BaseException as exc:
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=dispatcher, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    assert set(claimed[0]).isdisjoint(claimed[1])
    assert claimed[0] and claimed[1], "both dispatchers took part in the race"
    assert sorted(claimed[0] + claimed[1]) == sorted(due)
    assert sorted(sent[0] + sent[1]) == sorted(due)

    ids_mailed = [m.extra_headers["X-Clinic-Message-Id"] for m in mail.outbox]
    assert sorted(ids_mailed) == sorted(str(pk) for pk in due)  # one email per row, none twice
    rows = OutboundMessage.objects.filter(pk__in=due)
    assert set(rows.values_list("status", "attempts", "kind")) == {(Status.SENT, 1, Kind.SURVEY_INVITATION)}
