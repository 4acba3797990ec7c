"""A clinic whose name names the treatment: its patients' messages carry its discreet message name."""

from __future__ import annotations

import datetime as dt

from django.core import mail

from clinic.models import Clinic
from tests.messaging.helpers import dispatch
from tests.messaging.test_discreet import forbidden_in
from tests.scheduling.helpers import NOW, book, local


def test_messages_use_the_message_name_not_a_name_that_names_the_treatment(world, clock):
    # Written past validation, as a clinic renamed before the rule existed would be.
    Clinic.objects.filter(pk=world.clinic.pk).update(name="Riverside Ketamine Center", message_name="Riverside Center")
    assert book(world.front_desk, world.patient, world.iv, local(2027, 3, 5, 10)).status_code == 201
    clock.move_to(NOW + dt.timedelta(minutes=3))
    assert len(dispatch().sent) == 1
    [email] = mail.outbox
    text = f"{email.subject}\n{email.body}"
    assert "Riverside Center" in text
    assert forbidden_in(text) == []


def test_without_a_message_name_the_clinic_name_is_used(world, clock):
    assert book(world.front_desk, world.patient, world.iv, local(2027, 3, 5, 10)).status_code == 201
    clock.move_to(NOW + dt.timedelta(minutes=3))
    dispatch()
    [email] = mail.outbox
    assert world.clinic.name in email.subject
