"""The PHI log guard watches values written by any path, not only the factories' own.

A patient registered or renamed through the API, free-text answers saved through a link (also
inside repeating groups) and a clinician's risk note are registered as they are saved, so a log
line carrying them fails the test that wrote it.
"""

from __future__ import annotations

import logging

from clinic.access import Role
from tests.factories.clinic import PatientFactory
from tests.phi import find_phi_leaks, registered_phi

NEW_PATIENT = {
    "first_name": "Wilhelmina",
    "last_name": "Quarrington",
    "date_of_birth": "1979-06-15",
    "sex_at_birth": "female",
    "email": "wq@mail.test",
    "phone": "(202) 555-0177",
    "emergency_contact_name": "Bartholomew Quarrington",
    "emergency_contact_phone": "+1 202 555 0178",
}


def test_a_patient_registered_and_renamed_through_the_api_is_watched(clinic, make_staff, client_for, phi_log_guard):
    client = client_for(make_staff(clinic, Role.FRONT_DESK))
    assert "Quarrington" not in registered_phi()
    created = client.post("/api/v1/patients/", {**NEW_PATIENT, "clinic": clinic.pk}, format="json")
    assert created.status_code == 201, created.content
    assert {
        "Wilhelmina",
        "Quarrington",
        "1979-06-15",
        "wq@mail.test",
        "+12025550177",
        "Bartholomew Quarrington",
        "+12025550178",
    } <= registered_phi()

    renamed = client.patch(f"/api/v1/patients/{created.json()['id']}/", {"last_name": "Featherstone"}, format="json")
    assert renamed.status_code == 200
    assert "Featherstone" in registered_phi()

    logging.getLogger("clinic.test").warning("lookup for Featherstone failed")
    assert find_phi_leaks(phi_log_guard.texts, registered_phi()) == [("clinic.test", "Featherstone")]
    phi_log_guard.texts.clear()  # the guard itself would fail this test otherwise: that is the point


def test_free_text_answers_and_risk_notes_are_watched(clinic, make_staff, client_for, api_client):
    patient = PatientFactory(clinic=clinic)
    front_desk = client_for(make_staff(clinic, Role.FRONT_DESK))
    url = front_desk.post(f"/api/v1/patients/{patient.pk}/intake-invitations/").json()["url"]
    token = url.rstrip("/").rsplit("/", 1)[-1]

    def save(code: str, answers: dict) -> None:
        response = api_client.put(f"/api/v1/forms/{token}/responses/{code}/", {"answers": answers}, format="json")
        assert response.status_code == 200, response.content

    save("medical-history", {"mh-other": "Migraines since my divorce from Leopold"})
    save("current-medications", {"med-benzodiazepine": True, "med-benzodiazepine-names": "Clonazepamix"})
    save(
        "antidepressant-trials",
        {
            "trials-any": True,
            "trial": [
                {
                    "trial-drug": "Sertralinex",
                    "trial-dose-adequate": "yes",
                    "trial-weeks": 8,
                    "trial-outcome": "no_improvement",
                    "trial-current-episode": True,
                }
            ],
        },
    )
    nurse = client_for(make_staff(clinic, Role.NURSE))
    recorded = nurse.post(
        f"/api/v1/patients/{patient.pk}/risk-assessments/",
        {"level": "low", "method": "Clinical interview", "note": "Mentions brother Ignatius as support"},
        format="json",
    )
    assert recorded.status_code == 201, recorded.content

    watched = registered_phi()
    assert {
        "Migraines since my divorce from Leopold",
        "Clonazepamix",
        "Sertralinex",
        "Mentions brother Ignatius as support",
    } <= watched
    # Choice values and numbers are not free text: "yes" or "no_improvement" in a log is no leak.
    assert "no_improvement" not in watched
