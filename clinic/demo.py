"""The demo clinic: rooms of every modality, one login per role, a handful of patients.

Idempotent: running it again finds what exists and adds only what is missing. Other apps add
their part of the demo in their own ``demo.py`` (see ``manage.py seed_demo``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from clinic.access import Actor, Role
from clinic.models import Clinic, Modality, Patient, Room, StaffMember
from clinic.services.clinics import clinic_bootstrap
from clinic.services.patients import patient_create
from clinic.services.rooms import room_create
from clinic.services.staff import staff_create

DEMO_CLINIC_NAME = "Demo Riverside Clinic"
DEMO_TIMEZONE = "America/New_York"
DEMO_PASSWORD = "demo-clinic-pass-2026"  # noqa: S105 - printed for the demo on purpose

DEMO_USERS = {
    Role.CLINIC_ADMIN: ("demo-admin", "Alex", "Admin"),
    Role.FRONT_DESK: ("demo-frontdesk", "Frankie", "Desk"),
    Role.NURSE: ("demo-nurse", "Nora", "Nurse"),
    Role.PRESCRIBER: ("demo-prescriber", "Priya", "Prescriber"),
}

DEMO_ROOMS = [
    ("Chair 1", [Modality.IV_KETAMINE, Modality.IM_KETAMINE]),
    ("Chair 2", [Modality.IV_KETAMINE, Modality.IM_KETAMINE]),
    ("Chair 3", [Modality.IV_KETAMINE]),
    ("Suite A", [Modality.ESKETAMINE_NASAL, Modality.IM_KETAMINE]),
    ("Suite B", [Modality.ESKETAMINE_NASAL]),
]

# Fictional people; phone numbers in the 555-01xx range reserved for fiction.
DEMO_PATIENTS = [
    ("Avery", "Lindqvist", dt.date(1984, 3, 12), "female", "avery@example.com", "+12025550101", "ESK-0001"),
    ("Jordan", "Okafor", dt.date(1991, 7, 2), "male", "jordan@example.com", "+12025550102", ""),
    ("Sam", "Delacroix", dt.date(1976, 11, 23), "female", "sam@example.com", "+12025550103", "ESK-0003"),
    ("Riley", "Nakamura", dt.date(1969, 1, 30), "male", "riley@example.com", "+12025550104", ""),
    ("Casey", "Moreau", dt.date(2001, 5, 17), "intersex", "casey@example.com", "+12025550105", ""),
    ("Morgan", "Achterberg", dt.date(1988, 9, 9), "female", "morgan@example.com", "+12025550106", "ESK-0006"),
]


@dataclass
class DemoContext:
    clinic: Clinic
    actors: dict[str, Actor] = field(default_factory=dict)
    members: dict[str, StaffMember] = field(default_factory=dict)
    patients: list[Patient] = field(default_factory=list)
    rooms: list[Room] = field(default_factory=list)


def seed_clinic() -> DemoContext:
    clinic = Clinic.objects.filter(name=DEMO_CLINIC_NAME).first()
    admin_username = DEMO_USERS[Role.CLINIC_ADMIN][0]
    if clinic is None:
        clinic, _ = clinic_bootstrap(
            name=DEMO_CLINIC_NAME,
            timezone=DEMO_TIMEZONE,
            admin_username=admin_username,
            admin_password=DEMO_PASSWORD,
            admin_email="admin@example.com",
            phone="+12025550100",
        )
        clinic.address_line1 = "100 River Road"
        clinic.city = "Springfield"
        clinic.region = "VA"
        clinic.postal_code = "22150"
        clinic.save()
    admin = Actor.for_user(StaffMember.objects.get(clinic=clinic, user__username=admin_username).user)

    context = DemoContext(clinic=clinic)
    for role, (username, first, last) in DEMO_USERS.items():
        member = StaffMember.objects.filter(clinic=clinic, user__username=username).select_related("user").first()
        if member is None:
            member = staff_create(
                actor=admin,
                clinic_id=clinic.pk,
                username=username,
                password=DEMO_PASSWORD,
                first_name=first,
                last_name=last,
                email=f"{username}@example.com",
                roles=[role],
                max_concurrent_sessions=3 if role in (Role.NURSE, Role.PRESCRIBER) else 1,
                phone="+12025550199",
            )
        if member.user.first_name != first:
            member.user.first_name, member.user.last_name = first, last
            member.user.save(update_fields=["first_name", "last_name"])
        context.members[role] = member
        context.actors[role] = Actor.for_user(member.user)

    for name, modalities in DEMO_ROOMS:
        room = Room.objects.filter(clinic=clinic, name=name).first()
        if room is None:
            room = room_create(actor=admin, clinic_id=clinic.pk, name=name, modalities=modalities)
        context.rooms.append(room)

    front_desk = context.actors[Role.FRONT_DESK]
    for first, last, dob, sex, email, phone, rems_id in DEMO_PATIENTS:
        patient = Patient.objects.filter(clinic=clinic, first_name=first, last_name=last).first()
        if patient is None:
            patient = patient_create(
                actor=front_desk,
                clinic_id=clinic.pk,
                data={
                    "first_name": first,
                    "last_name": last,
                    "date_of_birth": dob,
                    "sex_at_birth": sex,
                    "email": email,
                    "phone": phone,
                    "rems_patient_id": rems_id,
                    "emergency_contact_name": "Pat Contact",
                    "emergency_contact_phone": "+12025550190",
                },
            )
        context.patients.append(patient)
    return context
