"""Clinics, rooms, staff and roles, patients, auth, audit, and the shared API plumbing."""
