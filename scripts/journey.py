"""The patient journey, end to end, through the running system's public API.

What an operator, clinic staff and a patient do, in order, against a live server (gunicorn, a
Celery worker and beat, PostgreSQL, Redis): bootstrap a clinic, configure it, register a patient,
complete the intake through the link, approve, book an esketamine induction, check in, monitor
(with one critical reading), discharge early with a prescriber's reason, download the REMS form,
answer the follow-up survey from the email the worker sent, and read the outcomes. Each step
prints one line; any unexpected answer stops the journey with a non-zero exit.

The worker's deliveries are checked twice, across processes: the booking confirmation, a reminder
and the follow-up survey must each arrive at the mail catcher (with the preparation instructions,
and no drug named) and show as ``sent`` in the delivery log (``GET notifications/``), which reads
the OutboundMessage rows the worker updated. For a reminder to fall due during the run, the clinic
reminds 1 hour ahead and the course starts 61 minutes from now; the clinic's time zone is the one
where it is mid-morning now, so the 135-minute session and its check-in fall on one local day
whenever the journey runs.

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
import zoneinfo
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
# One zone for (nearly) every whole-hour UTC offset, -10 to +12.
ZONES = (
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Halifax",
    "America/Sao_Paulo",
    "Atlantic/South_Georgia",
    "Atlantic/Azores",
    "Europe/London",
    "Europe/Paris",
    "Europe/Athens",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Brisbane",
    "Pacific/Noumea",
    "Pacific/Auckland",
)
# Patient texts are discreet (DESIGN.md section 4): none of these may appear in what the patient gets.
UNSAYABLE = ("ketamine", "esketamine", "spravato", "depress", "infusion", "treatment", "diagnos")
ESCORT = "Bring someone to take you home"
FASTING = "Please do not eat for 2 hours"


def mid_morning_zone(now: dt.datetime) -> str:
    """The zone whose local time is nearest 10:00 now."""

    def distance(name: str) -> float:
        local = now.astimezone(zoneinfo.ZoneInfo(name))
        return abs(local.hour + local.minute / 60 - 10)

    return min(ZONES, key=distance)


def wait_for_mail(handler, to: str, subject_starts: str, *, timeout: float = 150) -> str:
    """The plain-text body of the first email to ``to`` whose subject starts so, waiting for the worker."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in list(handler.messages):
            if to in message["To"] and str(message["Subject"]).startswith(subject_starts):
                body = message.get_body(preferencelist=("plain",)).get_content()
                return f"{message['Subject']}\n{body}"
        time.sleep(0.5)
    raise JourneyError(f"no email {subject_starts!r}... to {to} within {timeout:.0f} s (is the worker running?)")


def wait_for_sent(api: Api, patient_id: int, kind: str, *, timeout: float = 30) -> dict:
    """The first delivery-log line of ``kind`` for the patient with status ``sent``, waiting for the
    worker to record the outcome (it does so just after the mail server accepted the message)."""
    deadline = time.monotonic() + timeout
    while True:
        _, log = api.call("GET", f"notifications/?patient={patient_id}&kind={kind}&status=sent")
        if log["count"]:
            return log["results"][0]
        if time.monotonic() > deadline:
            _, every = api.call("GET", f"notifications/?patient={patient_id}&kind={kind}")
            states = [(m["status"], m["scheduled_for"], m["last_error"]) for m in every["results"]]
            raise JourneyError(f"no {kind} sent to the patient in the delivery log: {states}")
        time.sleep(0.5)


def check_discreet(text: str, *, must_say: tuple[str, ...]) -> None:
    lowered = text.lower()
    said = [word for word in UNSAYABLE if word in lowered]
    if said:
        raise JourneyError(f"a patient message names {said}: {text[:200]!r}")
    missing = [phrase for phrase in must_say if phrase not in text]
    if missing:
        raise JourneyError(f"a patient message lacks {missing}: {text[:400]!r}")


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
    zone = mid_morning_zone(dt.datetime.now(dt.UTC))
    subprocess.run(  # noqa: S603 - fixed argv
        [
            sys.executable,
            "manage.py",
            "bootstrap_clinic",
            f"--name=Journey Clinic {suffix}",
            f"--timezone={zone}",
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
    step(1, f"operator bootstrapped a clinic ({zone}) and its administrator {admin_name}")
    admin = anonymous.login(admin_name, PASSWORD)
    _, me = admin.call("GET", "me/")
    clinic_id = me["memberships"][0]["clinic"]
    # Open around the clock; no survey or confirmation delay, and a reminder 1 hour ahead, so each
    # message falls due while the journey runs.
    admin.call(
        "PATCH",
        f"clinics/{clinic_id}/",
        {
            "opening_hours": [{"weekday": d, "opens": "00:00", "closes": "23:59"} for d in range(7)],
            "followup_survey_delay_hours": 0,
            "booking_confirmation_delay_minutes": 0,
            "reminder_hours_before": [48, 1],
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

    # Rounded down to the minute, 61 minutes on: the first session's 1-hour reminder is due within a minute.
    first_start = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=61)).replace(second=0, microsecond=0)
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
    confirmation = wait_for_mail(mail, patient_email, "Your appointment at")
    check_discreet(confirmation, must_say=(ESCORT, FASTING, "are booked"))
    wait_for_sent(desk, patient["id"], "booking_confirmation")
    reminder = wait_for_mail(mail, patient_email, "Reminder:")
    check_discreet(reminder, must_say=(ESCORT, FASTING))
    sent = wait_for_sent(desk, patient["id"], "session_reminder")
    if sent["subject_id"] != first["id"]:
        raise JourneyError(f"the reminder sent is not the first session's: {sent}")
    step(9, "worker sent the booking confirmation and the 1-hour reminder (both with the preparation; logged sent)")

    escort = {"escort_name": "Sam Journey", "escort_phone": "+12025550151"}
    desk.call("POST", f"sessions/{first['id']}/check-in/", escort)
    step(10, "front desk checked the patient in with the escort's name and phone")
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
    nurse.call(
        "POST",
        f"monitoring/{record_id}/vitals/",
        {"systolic": 126, "diastolic": 80, "heart_rate": 72, "spo2": 98, "respiratory_rate": 14},
    )
    nurse.call("POST", f"monitoring/{record_id}/scales/", {"scale": "moaas", "value": 5})
    step(11, f"nurse opened monitoring record {record_id} with pre-dose checks and baseline vitals")
    # Doses cannot be dated before the record was opened, and a second device must wait 5 minutes
    # (label): the journey gives one device rather than wait.
    nurse.call("POST", f"monitoring/{record_id}/doses/", {"lot_number": "LOT-J1"})
    step(12, "nurse recorded the first esketamine device (28 mg)")
    _, critical = nurse.call(
        "POST",
        f"monitoring/{record_id}/vitals/",
        {"systolic": 188, "diastolic": 114, "heart_rate": 98, "spo2": 97, "respiratory_rate": 16},
    )
    if not critical["alerts"] or critical["alerts"][0]["severity"] != "critical":
        raise JourneyError(f"a 188/114 reading should raise a critical alert: {critical['alerts']}")
    alert = critical["alerts"][0]
    step(13, f"nurse recorded 188/114: critical alert {alert['id']} raised")
    prescriber.call("POST", f"alerts/{alert['id']}/acknowledge/", {"note": "Rechecked; settling. No action needed."})
    step(14, "prescriber acknowledged the alert with a note")
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
    step(15, f"discharge before 2 hours refused: {status} {refusal['code']}")
    prescriber.call(
        "POST",
        f"monitoring/{record_id}/discharge/",
        {**discharge, "override_reason": "Journey test: cannot wait two hours; vitals back to baseline."},
    )
    step(16, "prescriber discharged with an override and a reason")
    _, form = nurse.call("GET", f"monitoring/{record_id}/rems-form/")
    _, csv_text = nurse.call("GET", f"monitoring/{record_id}/rems-form/?format=csv", raw=True)
    step(
        17,
        f"REMS form downloaded (dose {form['fields']['dose']}, {len(csv_text.splitlines())} CSV rows; "
        f"missing: {form['missing'] or 'none'})",
    )

    survey_token = token_of(wait_for_link(mail, patient_email, exclude={intake_link}))
    wait_for_sent(desk, patient["id"], "survey_invitation")
    _, survey = anonymous.call("GET", f"forms/{survey_token}/")
    if survey["purpose"] != "survey":
        raise JourneyError(f"the emailed link is not the survey: {survey['purpose']}")
    anonymous.call(
        "PUT",
        f"forms/{survey_token}/responses/phq9/",
        {"answers": {f"phq9-{i}": 1 for i in range(1, 9)} | {"phq9-9": 0}},
    )
    anonymous.call("POST", f"forms/{survey_token}/submit/")
    step(18, "worker emailed the follow-up survey (logged sent); the patient answered it through the link")
    _, outcomes = nurse.call("GET", f"patients/{patient['id']}/outcomes/")
    phq9 = outcomes["instruments"]["phq9"]
    step(
        19,
        f"outcomes: PHQ-9 baseline {phq9['baseline']['total']} -> latest {phq9['latest']['total']} "
        f"({phq9['percent_change']}%), response={phq9['response']}, remission={phq9['remission']}",
    )
    _, log = desk.call("GET", f"notifications/?patient={patient['id']}&status=sent&page_size=200")
    kinds = {line["kind"] for line in log["results"]}
    expected = {"intake_invitation", "booking_confirmation", "session_reminder", "survey_invitation"}
    if not expected <= kinds:
        raise JourneyError(f"the delivery log lacks sent {sorted(expected - kinds)}: {sorted(kinds)}")
    step(20, f"delivery log: {log['count']} messages sent to the patient ({', '.join(sorted(kinds))})")


if __name__ == "__main__":
    sys.exit(main())
