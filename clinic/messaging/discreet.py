"""The words a patient's message must never show: a drug, a treatment or a diagnosis.

Messages are discreet by rule (DESIGN.md section 4): a lock screen, a shared inbox or a relative's
glance must not reveal ketamine treatment or a psychiatric diagnosis. The message templates are
scanned against this list in the tests; the clinic's name is the one part of a message that the
templates do not control, so ``Clinic.clean`` checks the name patients see with it (a clinic called
"Riverside Ketamine Center" sets a discreet ``message_name`` such as "Riverside Center").
"""

from __future__ import annotations

import re

TREATMENT_WORDS = (
    "ketamine",
    "esketamine",
    "spravato",
    "depress",
    "ptsd",
    "anxiety",
    "suicid",
    "psychiatr",
    "infusion",
    "treatment",
    "therapy",
    "mental",
    "drug",
    "dose",
    "diagnos",
    "antidepress",
    "psychedelic",
    "dissociat",
    "nasal",
    "spray",
    "phq",
    "gad-7",
    "gad7",
    "rems",
)

# A link token is random: it may spell anything, so it is not scanned.
_LINK_TOKEN = re.compile(r"/forms/[^/\s]+/")


def treatment_words_in(text: str) -> list[str]:
    """The words of ``TREATMENT_WORDS`` found in ``text`` (case-insensitive), in list order."""
    lowered = _LINK_TOKEN.sub("/forms/TOKEN/", text).lower()
    return [word for word in TREATMENT_WORDS if word in lowered]
