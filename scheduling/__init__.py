"""Scheduling: treatment types and protocols, availability, booking, series, session lifecycle."""
