"""A reminder really leaves through SMTP: an aiosmtpd server on loopback receives it."""

from __future__ import annotations

import datetime as dt
import email
import logging
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller

from tests.messaging.helpers import Kind, Status, dispatch, reminders
from tests.scheduling.helpers import NOW, book, local


class Collector:
    def __init__(self) -> None:
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    # The fake server's own debug log prints whole messages; it is not the application's log.
    server_log = logging.getLogger("mail.log")
    level = server_log.level
    server_log.setLevel(logging.WARNING)
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = controller.hostname, controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 10
    try:
        yield collector
    finally:
        controller.stop()
        server_log.setLevel(level)


@pytest.mark.slow
def test_a_reminder_is_delivered_to_a_real_smtp_server(world, clock, smtp_server):
    response = book(world.front_desk, world, world.iv, local(2027, 3, 5, 10))
    assert response.status_code == 201, response.content
    clock.move_to(NOW + dt.timedelta(minutes=3))
    dispatch()  # the confirmation
    smtp_server.envelopes.clear()

    clock.move_to(local(2027, 3, 3, 10))
    [sent] = dispatch().sent
    reminder = reminders(response.json()["id"])[0]
    assert (reminder.pk, reminder.kind) == (sent, Kind.SESSION_REMINDER)
    reminder.refresh_from_db()
    assert reminder.status == Status.SENT

    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == [world.patient.email]
    assert envelope.mail_from == "clinic@localhost"
    received = email.message_from_bytes(envelope.original_content, policy=policy.default)
    assert received["Subject"] == "Reminder: your appointment at Riverside clinic on Friday 5 March at 10:00"
    assert received["X-Clinic-Message-Id"] == str(sent)
    assert "Friday 5 March at 10:00" in received.get_content()
