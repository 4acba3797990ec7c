"""The demo clinic's intake: patients at every candidacy status, and a fresh link to try.

Runs the real services (links, answers, submission, decisions), so the demo exercises exactly
what staff and patients would. Idempotent: a patient already at their demo status is left
alone. The one exception is the "invited" patient, who gets a fresh link on every run,
because links are stored hashed and cannot be printed again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from clinic.access import Role
from clinic.demo import DemoContext
from clinic.models import CandidacyStatus, Patient
from clinic.services.patients import patient_create
from intake.models import CandidacyDecision
from intake.services.decisions import assessment_decide
from intake.services.forms import form_draft_save, form_submit
from intake.services.invitations import IssuedLink, candidacy_refresh, intake_invitation_issue

NO_CONDITIONS = {
    "mh-aneurysm": False,
    "mh-avm": False,
    "mh-brain-bleed": False,
    "mh-ketamine-allergy": False,
    "mh-ketamine-reaction": False,
    "mh-psychosis": False,
    "mh-bipolar": False,
    "mh-substance-use": False,
    "mh-hypertension": False,
    "mh-heart-disease": False,
    "mh-intracranial-pressure": False,
    "mh-pregnant": "no",
    "mh-breastfeeding": False,
}
NO_MEDICINES = {
    "med-benzodiazepine": False,
    "med-sedative-hypnotic": False,
    "med-psychostimulant": False,
    "med-maoi": False,
    "med-opioid": False,
}


def _trial(drug: str) -> dict:
    return {
        "trial-drug": drug,
        "trial-dose-adequate": "yes",
        "trial-weeks": 8,
        "trial-outcome": "no_improvement",
        "trial-current-episode": True,
    }


def intake_answers(*, item9: int = 0, hypertension: bool = False, benzodiazepine: bool = False) -> dict[str, dict]:
    history = dict(NO_CONDITIONS)
    if hypertension:
        history.update({"mh-hypertension": True, "mh-hypertension-controlled": "unsure"})
    return {
        "medical-history": history,
        "current-medications": {**NO_MEDICINES, "med-benzodiazepine": benzodiazepine},
        "antidepressant-trials": {"trials-any": True, "trial": [_trial("sertraline"), _trial("venlafaxine")]},
        "phq9": {**{f"phq9-{i}": 2 for i in range(1, 9)}, "phq9-9": item9},
        "gad7": {f"gad7-{i}": 1 for i in range(1, 8)},
        "pcl5": {f"pcl5-{i}": 1 for i in range(1, 21)},
    }


@dataclass(frozen=True)
class DemoPatient:
    first_name: str
    last_name: str
    target: str
    modalities: tuple[str, ...] = ()


# Each of the first six clinic-demo patients, plus four more, sits at one candidacy status.
DEMO_STATUSES = [
    DemoPatient("Avery", "Lindqvist", CandidacyStatus.APPROVED, ("esketamine_nasal", "iv_ketamine")),
    DemoPatient("Jordan", "Okafor", CandidacyStatus.APPROVED, ("iv_ketamine", "im_ketamine")),
    DemoPatient("Sam", "Delacroix", CandidacyStatus.APPROVED, ("esketamine_nasal",)),
    DemoPatient("Riley", "Nakamura", CandidacyStatus.NEEDS_INFO),
    DemoPatient("Casey", "Moreau", CandidacyStatus.DECLINED),
    DemoPatient("Morgan", "Achterberg", CandidacyStatus.SUBMITTED),
    DemoPatient("Drew", "Halvorsen", CandidacyStatus.INVITED),
    DemoPatient("Elliot", "Vance", CandidacyStatus.IN_PROGRESS),
    DemoPatient("Frances", "Quade", CandidacyStatus.EXPIRED, ("iv_ketamine",)),
    DemoPatient("Gale", "Thornton", CandidacyStatus.NOT_STARTED),
]
EXTRA_PATIENTS = {
    "Drew": (dt.date(1990, 2, 14), "male", "drew@example.com", "+12025550107"),
    "Elliot": (dt.date(1979, 6, 1), "male", "elliot@example.com", "+12025550108"),
    "Frances": (dt.date(1965, 12, 3), "female", "frances@example.com", "+12025550109"),
    "Gale": (dt.date(1995, 8, 21), "female", "gale@example.com", "+12025550110"),
}


def _patient(context: DemoContext, spec: DemoPatient) -> Patient:
    patient = Patient.objects.filter(
        clinic=context.clinic, first_name=spec.first_name, last_name=spec.last_name
    ).first()
    if patient is None:
        dob, sex, email, phone = EXTRA_PATIENTS[spec.first_name]
        patient = patient_create(
            actor=context.actors[Role.FRONT_DESK],
            clinic_id=context.clinic.pk,
            data={
                "first_name": spec.first_name,
                "last_name": spec.last_name,
                "date_of_birth": dob,
                "sex_at_birth": sex,
                "email": email,
                "phone": phone,
            },
        )
    return patient


def _submit(context: DemoContext, patient: Patient, answers: dict[str, dict]):
    issued = intake_invitation_issue(actor=context.actors[Role.FRONT_DESK], patient=patient)
    for code, values in answers.items():
        form_draft_save(invitation=issued.invitation, code=code, answers=values)
    return form_submit(invitation=issued.invitation).assessment


def _bring_to(context: DemoContext, patient: Patient, spec: DemoPatient) -> IssuedLink | None:
    prescriber = context.actors[Role.PRESCRIBER]
    target = spec.target
    if target in (CandidacyStatus.NOT_STARTED,):
        return None
    if target == CandidacyStatus.INVITED:
        return intake_invitation_issue(actor=context.actors[Role.FRONT_DESK], patient=patient)
    if target == CandidacyStatus.IN_PROGRESS:
        issued = intake_invitation_issue(actor=context.actors[Role.FRONT_DESK], patient=patient)
        form_draft_save(invitation=issued.invitation, code="medical-history", answers={"mh-aneurysm": False})
        return None
    answers = intake_answers(
        item9=1 if target == CandidacyStatus.SUBMITTED else 0,
        hypertension=target == CandidacyStatus.NEEDS_INFO,
        benzodiazepine=target == CandidacyStatus.DECLINED,
    )
    assessment = _submit(context, patient, answers)
    if target == CandidacyStatus.SUBMITTED:
        return None
    if target == CandidacyStatus.NEEDS_INFO:
        assessment_decide(
            actor=prescriber,
            assessment=assessment,
            decision="needs_info",
            modalities=[],
            rationale="Blood pressure control unclear: please bring readings from the last month.",
        )
    elif target == CandidacyStatus.DECLINED:
        assessment_decide(
            actor=prescriber,
            assessment=assessment,
            decision="declined",
            modalities=[],
            rationale="Daily benzodiazepine; discuss a taper with the prescribing psychiatrist first.",
        )
    else:
        decision = assessment_decide(
            actor=prescriber,
            assessment=assessment,
            decision="approved",
            modalities=list(spec.modalities),
            rationale="Meets criteria; two adequate failed trials.",
        )
        if target == CandidacyStatus.EXPIRED:
            # Demo data only: age the approval past its validity so the expired state shows.
            aged = timezone.now() - dt.timedelta(days=400)
            CandidacyDecision.objects.filter(pk=decision.pk).update(
                decided_at=aged, expires_at=aged + dt.timedelta(days=365)
            )
            candidacy_refresh(patient=patient)
    return None


def seed_intake(context: DemoContext) -> IssuedLink | None:
    """Bring each demo patient to their status; return the fresh link of the invited patient."""
    link = None
    for spec in DEMO_STATUSES:
        patient = _patient(context, spec)
        if patient not in context.patients:
            context.patients.append(patient)
        done = patient.candidacy_status_now() == spec.target
        if spec.target == CandidacyStatus.INVITED:
            link = _bring_to(context, patient, spec)  # always a fresh, printable link
        elif not done:
            _bring_to(context, patient, spec)
    return link


def seed_survey_link(context: DemoContext) -> str | None:
    """A follow-up survey for Avery (the worker also emails it), and a fresh link to print."""
    from intake.messages import survey_create
    from intake.models import FormInvitation
    from intake.services.invitations import invitation_token_mint, link_url
    from intake.services.questionnaires import SURVEY_CODES

    patient = Patient.objects.filter(clinic=context.clinic, first_name="Avery", last_name="Lindqvist").first()
    if patient is None:
        return None
    now = timezone.now()
    invitation = FormInvitation.objects.filter(
        patient=patient,
        purpose=FormInvitation.Purpose.SURVEY,
        submitted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=now,
    ).first()
    if invitation is None:
        invitation = survey_create(patient=patient, codes=SURVEY_CODES, send_at=now, reason=f"demo:{now:%Y-%m-%d}")
    return link_url(invitation_token_mint(invitation)) if invitation else None
