"""Pluggable SMS backends, chosen with ``SMS_BACKEND`` (a dotted path), like Django's email backends.

A real provider is a subclass of ``BaseSmsBackend`` implementing ``send``: take one message,
deliver it, return the provider's message id, and raise ``SmsError`` (with a message that holds
no personal data) when the provider refuses. For example, a Twilio backend would read its
account sid and token from settings, POST to the Messages API, and return the ``sid``.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string


class SmsError(Exception):
    """The provider refused or failed; ``str(exc)`` must not contain the number or the text."""


@dataclass(frozen=True)
class SmsMessage:
    to: str  # E.164
    body: str
    reference: str  # our message id, for the provider's idempotency or callbacks


class BaseSmsBackend:
    def send(self, message: SmsMessage) -> str:
        raise NotImplementedError


class ConsoleSmsBackend(BaseSmsBackend):
    """Prints messages, for development and the demo (like Django's console email backend)."""

    _lock = threading.Lock()

    def send(self, message: SmsMessage) -> str:
        with self._lock:
            sys.stdout.write(f"--- SMS to {message.to} (ref {message.reference}) ---\n{message.body}\n---\n")
            sys.stdout.flush()
        return f"console-{message.reference}"


class LocmemSmsBackend(BaseSmsBackend):
    """Keeps messages in ``LocmemSmsBackend.outbox``, for tests."""

    outbox: list[SmsMessage] = []

    def send(self, message: SmsMessage) -> str:
        LocmemSmsBackend.outbox.append(message)
        return f"locmem-{message.reference}"


def get_backend() -> BaseSmsBackend:
    return import_string(settings.SMS_BACKEND)()
