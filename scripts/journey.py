"""The patient journey, end to end, through the running system's public API.

What an operator, clinic staff and a patient do, in order, against a live server (gunicorn, a
Celery worker and beat, PostgreSQL, Redis): bootstrap a clinic, configure it, register a patient,
complete the intake through the link, approve, book an esketamine induction, check in, monitor
(with one critical reading), discharge early with a prescriber's reason, download the REMS form,
answer the follow-up survey from the email the worker sent, and read the outcomes. Each step
prints one line; any unexpected answer stops the journey with a non-zero exit.

Emails are caught by an SMTP server this script runs on loopback (aiosmtpd): the server must
send mail there (EMAIL_URL=smtp://127.0.0.1:<port>), which ``scripts/journey`` arranges.

Usage: python scripts/journey.py --base http://127.0.0.1:8100 --smtp-port 2525
"""

from __future__ import annotations

import argparse
import datetime as dt
import email
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from email import policy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "journey-" + secrets.token_urlsafe(12)


class JourneyError(RuntimeError):
    pass


class Api:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/") + "/api/v1/"
        self.token: str | None = None

    def call(self, method: str, path: str, body=None, *, expect=(200, 201, 204), raw: bool = False):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310 - our own server
        request.add_header("Accept", "application/json" if not raw else "*/*")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        if status not in expect:
            raise JourneyError(f"{method} {path} answered {status}: {payload[:500]!r}")
        if raw:
            return status, payload.decode()
        return status, (json.loads(payload) if payload else None)

    def login(self, username: str, password: str) -> Api:
        session = Api(self.base.removesuffix("api/v1/"))
        _, body = session.call("POST", "auth/token/", {"username": username, "password": password})
        session.token = body["token"]
        return session


def step(number: int, text: str) -> None:
    print(f"{number:>2}. {text}", flush=True)


def start_mail_catcher(port: int):
    from aiosmtpd.controller import Controller

    class Catcher:
        def __init__(self) -> None:
            self.messages: list[email.message.EmailMessage] = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
            return "250 OK"

    handler = Catcher()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, handler


LINK = r"https?://\S+/forms/[\w-]+/"


def wait_for_link(handler, to: str, *, exclude: set[str] = frozenset(), timeout: float = 120) -> str:
    """The first link emailed to ``to`` that is not in ``exclude``, waiting for the worker to send it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in list(handler.messages):
            if to not in message["To"]:
                continue
            body = message.get_body(preferencelist=("plain",)).get_content()
            for link in re.findall(LINK, body):
                if link not in exclude:
                    return link
        time.sleep(0.5)
    raise JourneyError(f"no new link emailed to {to} within {timeout:.0f} s (is the worker running?)")


def token_of(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8100")
    parser.add_argument("--smtp-port", type=int, default=2525)
    args = parser.parse_args()
    controller, mail = start_mail_catcher(args.smtp_port)
    try:
        run(Api(args.base), mail)
    except JourneyError as exc:
        print(f"JOURNEY FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        controller.stop()
    print("Journey complete.")
    return 0


def run(anonymous: Api, mail) -> None:  # noqa: PLR0915
    suffix = secrets.token_hex(3)
    admin_name = f"journey-admin-{suffix}"
    subprocess.run(  # noqa: S603 - fixed argv
        [
            sys.executable,
            "manage.py",
            "bootstrap_clinic",
            f"--name=Journey Clinic {suffix}",
            "--timezone=America/New_York",
            f"--admin-username={admin_name}",
            f"--admin-password={PASSWORD}",
            "--admin-email=admin@journey.test",
            "--phone=+12025550100",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**os.environ},
    )
    step(1, f"operator bootstrapped a clinic and its administrator {admin_name}")
    admin = anonymous.login(admin_name, PASSWORD)
    _, me = admin.call("GET", "me/")
    clinic_id = me["memberships"][0]["clinic"]
    # Open around the clock so the journey runs at any hour; no survey delay so it can be answered now.
    admin.call(
        "PATCH",
        f"clinics/{clinic_id}/",
        {
            "opening_hours": [{"weekday": d, "opens": "00:00", "closes": "23:59"} for d in range(7)],
            "followup_survey_delay_hours": 0,
            "booking_confirmation_delay_minutes": 0,
            "address_line1": "1 Journey Way",
            "city": "Springfield",
        },
    )
    for name in ("Chair 1", "Suite A"):
        admin.call("POST", "rooms/", {"name": name, "modalities": ["esketamine_nasal", "iv_ketamine"]})
    staff = {}
    for role in ("front_desk", "nurse", "prescriber"):
        _, member = admin.call(
            "POST",
            "staff/",
            {
                "username": f"journey-{role}-{suffix}",
                "password": PASSWORD,
                "first_name": role.replace("_", " ").title(),
                "last_name": "Journey",
                "email": f"{role}@journey.test",
                "roles": [role],
                "max_concurrent_sessions": 3,
                "phone": "+12025550111",
            },
        )
        staff[role] = member
        if role != "front_desk":
            admin.call(
                "PUT",
                f"staff/{member['id']}/availability/",
                {"weekly": [{"weekday": d, "starts": "00:00", "ends": "23:59"} for d in range(7)]},
            )
    _, treatment = admin.call(
        "POST",
        "treatment-types/",
        {"name": "Esketamine 56 mg", "modality": "esketamine_nasal", "duration_minutes": 135, "min_hours_between": 48},
    )
    step(2, "administrator configured hours, 2 rooms, 3 staff with availability, an esketamine treatment type")

    desk = anonymous.login(staff["front_desk"]["username"], PASSWORD)
    nurse = anonymous.login(staff["nurse"]["username"], PASSWORD)
    prescriber = anonymous.login(staff["prescriber"]["username"], PASSWORD)
    patient_email = f"patient-{suffix}@journey.test"
    _, patient = desk.call(
        "POST",
        "patients/",
        {
            "first_name": "Jamie",
            "last_name": f"Journey{suffix}",
            "date_of_birth": "1986-05-04",
            "sex_at_birth": "female",
            "email": patient_email,
            "phone": "+12025550150",
            "preferred_channel": "email",
            "emergency_contact_name": "Sam Journey",
            "emergency_contact_phone": "+12025550151",
        },
    )
    step(3, f"front desk registered patient {patient['mrn']}")
    _, invitation = desk.call("POST", f"patients/{patient['id']}/intake-invitations/")
    token = token_of(invitation["url"])
    intake_link = wait_for_link(mail, patient_email)
    step(4, "front desk sent the intake link; the worker emailed it to the patient")

    answers = {
        "medical-history": {
            **{
                k: False
                for k in (
                    "mh-aneurysm",
                    "mh-avm",
                    "mh-brain-bleed",
                    "mh-ketamine-allergy",
                    "mh-ketamine-reaction",
                    "mh-psychosis",
                    "mh-bipolar",
                    "mh-substance-use",
                    "mh-hypertension",
                    "mh-heart-disease",
                    "mh-intracranial-pressure",
                    "mh-breastfeeding",
                )
            },
            "mh-pregnant": "no",
        },
        "current-medications": {
            k: False
            for k in ("med-benzodiazepine", "med-sedative-hypnotic", "med-psychostimulant", "med-maoi", "med-opioid")
        },
        "antidepressant-trials": {
            "trials-any": True,
            "trial": [
                {
                    "trial-drug": drug,
                    "trial-dose-adequate": "yes",
                    "trial-weeks": 8,
                    "trial-outcome": "no_improvement",
                    "trial-current-episode": True,
                }
                for drug in ("sertraline", "venlafaxine")
            ],
        },
        "phq9": {f"phq9-{i}": 2 for i in range(1, 9)} | {"phq9-9": 0},
        "gad7": {f"gad7-{i}": 2 for i in range(1, 8)},
        "pcl5": {f"pcl5-{i}": 1 for i in range(1, 21)},
    }
    for code, values in answers.items():
        anonymous.call("PUT", f"forms/{token}/responses/{code}/", {"answers": values})
    _, submitted = anonymous.call("POST", f"forms/{token}/submit/")
    step(5, f"patient completed the intake ({len(answers)} questionnaires, risk={submitted['risk_signalled']})")

    _, assessments = prescriber.call("GET", f"assessments/?patient={patient['id']}")
    assessment = assessments["results"][0]
    prescriber.call(
        "POST",
        f"assessments/{assessment['id']}/decision/",
        {"decision": "approved", "modalities": ["esketamine_nasal"], "rationale": "Two adequate failed trials."},
    )
    desk.call("PATCH", f"patients/{patient['id']}/", {"rems_patient_id": f"REMS-{suffix}"})
    step(6, f"prescriber approved esketamine (recommendation was {assessment['recommendation']}); REMS id recorded")

    first_start = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).replace(second=0, microsecond=0)
    _, course = desk.call(
        "POST",
        "series/",
        {
            "patient": patient["id"],
            "treatment_type": treatment["id"],
            "protocol": "esketamine-trd-induction",
            "first_start": first_start.isoformat(),
        },
    )
    first = course["sessions"][0]
    step(7, f"front desk booked an esketamine induction: {len(course['sessions'])} sessions from {first['start']}")
    _, log = desk.call("GET", f"notifications/?patient={patient['id']}&kind=session_reminder&page_size=200")
    if log["count"] < len(course["sessions"]):
        raise JourneyError(f"expected reminders for every session, found {log['count']}")
    step(8, f"delivery log shows {log['count']} reminders scheduled")

    escort = {"escort_name": "Sam Journey", "escort_phone": "+12025550151"}
    desk.call("POST", f"sessions/{first['id']}/check-in/", escort)
    step(9, "front desk checked the patient in with the escort's name and phone")
    _, record = nurse.call(
        "POST",
        f"sessions/{first['id']}/monitoring/",
        {
            "hours_since_food": "3.0",
            "hours_since_liquids": "1.0",
            "escort_confirmed": True,
            "benzodiazepines": False,
            "sedative_hypnotics": False,
            "psychostimulants": False,
            "maois": False,
            "medications_confirmed": True,
            "pregnancy_test": "negative",
            "weight_kg": "70.0",
            "rems_enrollment_confirmed": True,
            "prescriber_on_site": staff["prescriber"]["id"],
            "first_rems_treatment": True,
        },
    )
    record_id = record["id"]
    now = dt.datetime.now(dt.UTC)
    nurse.call(
        "POST",
        f"monitoring/{record_id}/vitals/",
        {
            "taken_at": (now - dt.timedelta(minutes=12)).isoformat(),
            "systolic": 126,
            "diastolic": 80,
            "heart_rate": 72,
            "spo2": 98,
            "respiratory_rate": 14,
        },
    )
    nurse.call(
        "POST",
        f"monitoring/{record_id}/scales/",
        {"scale": "moaas", "value": 5, "taken_at": (now - dt.timedelta(minutes=11)).isoformat()},
    )
    step(10, f"nurse opened monitoring record {record_id} with pre-dose checks and baseline vitals")
    for minutes in (10, 5):
        nurse.call(
            "POST",
            f"monitoring/{record_id}/doses/",
            {"lot_number": "LOT-J1", "administered_at": (now - dt.timedelta(minutes=minutes)).isoformat()},
        )
    step(11, "nurse recorded two esketamine devices (56 mg), 5 minutes apart")
    _, critical = nurse.call(
        "POST",
        f"monitoring/{record_id}/vitals/",
        {"systolic": 188, "diastolic": 114, "heart_rate": 98, "spo2": 97, "respiratory_rate": 16},
    )
    if not critical["alerts"] or critical["alerts"][0]["severity"] != "critical":
        raise JourneyError(f"a 188/114 reading should raise a critical alert: {critical['alerts']}")
    alert = critical["alerts"][0]
    step(12, f"nurse recorded 188/114: critical alert {alert['id']} raised")
    prescriber.call("POST", f"alerts/{alert['id']}/acknowledge/", {"note": "Rechecked; settling. No action needed."})
    step(13, "prescriber acknowledged the alert with a note")
    nurse.call(
        "POST",
        f"monitoring/{record_id}/vitals/",
        {"systolic": 132, "diastolic": 84, "heart_rate": 78, "spo2": 98, "respiratory_rate": 14},
    )
    discharge = {
        "alert_and_oriented": True,
        "able_to_walk": True,
        "escort_present": True,
        "ready_minutes_without_rule": 90,
    }
    status, refusal = nurse.call("POST", f"monitoring/{record_id}/discharge/", discharge, expect=(422,))
    step(14, f"discharge before 2 hours refused: {status} {refusal['code']}")
    prescriber.call(
        "POST",
        f"monitoring/{record_id}/discharge/",
        {**discharge, "override_reason": "Journey test: cannot wait two hours; vitals back to baseline."},
    )
    step(15, "prescriber discharged with an override and a reason")
    _, form = nurse.call("GET", f"monitoring/{record_id}/rems-form/")
    _, csv_text = nurse.call("GET", f"monitoring/{record_id}/rems-form/?format=csv", raw=True)
    step(
        16,
        f"REMS form downloaded (dose {form['fields']['dose']}, {len(csv_text.splitlines())} CSV rows; "
        f"missing: {form['missing'] or 'none'})",
    )

    survey_token = token_of(wait_for_link(mail, patient_email, exclude={intake_link}))
    _, survey = anonymous.call("GET", f"forms/{survey_token}/")
    if survey["purpose"] != "survey":
        raise JourneyError(f"the emailed link is not the survey: {survey['purpose']}")
    anonymous.call(
        "PUT",
        f"forms/{survey_token}/responses/phq9/",
        {"answers": {f"phq9-{i}": 1 for i in range(1, 9)} | {"phq9-9": 0}},
    )
    anonymous.call("POST", f"forms/{survey_token}/submit/")
    step(17, "worker emailed the follow-up survey; the patient answered it through the link")
    _, outcomes = nurse.call("GET", f"patients/{patient['id']}/outcomes/")
    phq9 = outcomes["instruments"]["phq9"]
    step(
        18,
        f"outcomes: PHQ-9 baseline {phq9['baseline']['total']} -> latest {phq9['latest']['total']} "
        f"({phq9['percent_change']}%), response={phq9['response']}, remission={phq9['remission']}",
    )
    _, log = desk.call("GET", f"notifications/?patient={patient['id']}&status=sent")
    step(19, f"delivery log: {log['count']} messages sent to the patient")


if __name__ == "__main__":
    sys.exit(main())
