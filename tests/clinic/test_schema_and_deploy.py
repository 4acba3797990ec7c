"""The OpenAPI schema, the docs page, and Django's deployment checklist."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from clinic.access import Role

ROOT = Path(__file__).resolve().parents[2]


def test_schema_generates_without_warnings(tmp_path):
    # --fail-on-warn turns every drf-spectacular warning (unresolvable types, missing
    # serializers, enum name clashes) into a failure.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    schema = (tmp_path / "schema.yml").read_text()
    assert "/api/v1/patients/{id}/" in schema
    assert "bearerAuth" in schema


def test_schema_and_docs_are_for_staff_only(clinic, make_staff, client_for, api_client):
    assert api_client.get("/api/v1/schema/").status_code == 401
    assert api_client.get("/api/v1/docs/").status_code == 401
    staff = client_for(make_staff(clinic, Role.FRONT_DESK))
    assert staff.get("/api/v1/schema/").status_code == 200
    docs = staff.get("/api/v1/docs/")
    assert docs.status_code == 200
    # Swagger UI is served from our own static files, never a CDN.
    assert b"cdn" not in docs.content.lower()


def test_user_without_membership_cannot_read_the_docs(user, client_for):
    assert client_for(user).get("/api/v1/schema/").status_code == 403


@pytest.mark.slow
def test_production_settings_pass_the_deploy_check():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "a" * 10 + "-production-secret-key-for-the-deploy-check-0123456789",
        "ALLOWED_HOSTS": "clinic.example.org",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


@pytest.mark.slow
def test_production_settings_refuse_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.production", "ALLOWED_HOSTS": "x.org"})
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
