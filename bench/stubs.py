"""Stubbed message providers for the reminder sweep: they do the work a real provider client does
(serialise the email) and record each message id in Redis, so the harness can prove exactly-once."""

from __future__ import annotations

import os

import redis
from django.core.mail.backends.base import BaseEmailBackend

from clinic.messaging.sms import BaseSmsBackend, SmsMessage

SENT_KEY = "bench:sent"
_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ["REDIS_URL"])
    return _client


class CountingEmailBackend(BaseEmailBackend):
    def open(self) -> bool:
        self._ids: list[str] = []
        return True

    def send_messages(self, email_messages) -> int:
        ids = getattr(self, "_ids", None)
        if ids is None:
            self.open()
        for message in email_messages:
            message.message().as_bytes()  # what an SMTP client would put on the wire
            self._ids.append(message.extra_headers.get("X-Clinic-Message-Id", "?"))
        if ids is None:
            self.close()
        return len(email_messages)

    def close(self) -> None:
        ids = getattr(self, "_ids", None)
        if ids:
            _redis().rpush(SENT_KEY, *ids)
        self._ids = []


class CountingSmsBackend(BaseSmsBackend):
    def send(self, message: SmsMessage) -> str:
        _redis().rpush(SENT_KEY, message.reference)
        return f"bench-{message.reference}"
