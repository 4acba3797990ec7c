"""Outbound messages: the outbox service, the channels (email, SMS) and the dispatcher."""
