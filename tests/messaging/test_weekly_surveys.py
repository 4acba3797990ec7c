"""Weekly PHQ-9 and GAD-7 during an active course: one per patient per ISO week, at 10:00 local,
however often the beat task runs, and sent through the outbox like any other link."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from django.core import mail

from clinic.models import OutboundMessage
from intake.messages import weekly_surveys_schedule
from intake.models import FormInvitation
from scheduling.models import Session
from tests.factories.scheduling import CourseFactory, SessionFactory
from tests.intake.answers import gad7, phq9
from tests.messaging.helpers import Kind, answer_survey, desk, dispatch, emails_to, link_token
from tests.scheduling.helpers import NY, local


def _book_course(world, patient=None, first_start=None) -> list[int]:
    response = desk(world).post(
        "/api/v1/series/",
        {
            "patient": (patient or world.patient).pk,
            "treatment_type": world.iv.pk,
            "protocol": "iv-induction",
            "first_start": (first_start or local(2027, 3, 8, 10)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return [s["id"] for s in response.json()["sessions"]]


def _weekly_rows(patient):
    return OutboundMessage.objects.filter(
        patient=patient, kind=Kind.SURVEY_INVITATION, dedupe_key__contains=":weekly:"
    ).order_by("scheduled_for")


def _weeks(patient) -> Counter:
    return Counter(r.scheduled_for.astimezone(NY).isocalendar()[:2] for r in _weekly_rows(patient))


def test_one_survey_per_iso_week_however_often_the_task_runs(world, clock):
    _book_course(world)
    assert weekly_surveys_schedule() == 1  # Monday 12:00: after ten, so tomorrow at 10:00
    [row] = _weekly_rows(world.patient)
    assert row.scheduled_for == local(2027, 3, 2, 10)
    invitation = FormInvitation.objects.get(pk=row.subject_id)
    assert [q.code for q in invitation.questionnaires.order_by("invitationquestionnaire__position")] == [
        "phq9",
        "gad7",
    ]
    assert FormInvitation.objects.filter(purpose=FormInvitation.Purpose.SURVEY).count() == 1

    for moment in (local(2027, 3, 1, 18), local(2027, 3, 2, 0, 30), local(2027, 3, 4, 6), local(2027, 3, 7, 9)):
        clock.move_to(moment)
        assert weekly_surveys_schedule() == 0
    # No orphan links were left behind by the runs that found the week's survey.
    assert FormInvitation.objects.filter(purpose=FormInvitation.Purpose.SURVEY).count() == 1

    clock.move_to(local(2027, 3, 7, 19))  # Sunday evening: the next survey goes on Monday at 10:00
    assert weekly_surveys_schedule() == 1
    for moment in (local(2027, 3, 8, 1), local(2027, 3, 8, 13), local(2027, 3, 13, 7)):
        clock.move_to(moment)
        assert weekly_surveys_schedule() == 0
    assert [r.scheduled_for for r in _weekly_rows(world.patient)] == [local(2027, 3, 2, 10), local(2027, 3, 8, 10)]
    assert _weeks(world.patient) == Counter({(2027, 9): 1, (2027, 10): 1})


def test_a_course_starting_on_a_sunday_afternoon_does_not_get_two_surveys_on_monday(world, clock):
    """Sunday after 10:00 schedules Monday's survey; Monday's early run must not schedule another."""
    clock.move_to(local(2027, 3, 7, 13))
    _book_course(world, first_start=local(2027, 3, 8, 10))
    weekly_surveys_schedule()
    for hour in (1, 7, 13, 19):
        clock.move_to(local(2027, 3, 8, hour))
        weekly_surveys_schedule()
    assert _weeks(world.patient) == Counter({(2027, 10): 1})


def test_only_patients_in_an_active_course_are_surveyed(world):
    _book_course(world)
    single = world.new_patient()
    assert (
        world.front_desk.post(
            "/api/v1/sessions/",
            {"patient": single.pk, "treatment_type": world.iv.pk, "start": local(2027, 3, 3, 14).isoformat()},
            format="json",
        ).status_code
        == 201
    )
    recent, lapsed = world.new_patient(), world.new_patient()
    for patient, days_ago in ((recent, 10), (lapsed, 20)):
        course = CourseFactory(clinic=world.clinic, patient=patient, treatment_type=world.iv)
        SessionFactory(
            clinic=world.clinic,
            patient=patient,
            treatment_type=world.iv,
            course=course,
            room=world.room,
            clinician=world.nurse,
            status=Session.Status.COMPLETED,
            starts_at=local(2027, 3, 1, 10) - dt.timedelta(days=days_ago),
        )

    assert weekly_surveys_schedule() == 2
    surveyed = set(
        FormInvitation.objects.filter(purpose=FormInvitation.Purpose.SURVEY).values_list("patient_id", flat=True)
    )
    assert surveyed == {world.patient.pk, recent.pk}


def test_an_unreachable_patient_gets_no_survey_and_no_orphan_link(world):
    world.patient.email_opt_out = True
    world.patient.sms_opt_out = True
    world.patient.save()
    _book_course(world)
    assert weekly_surveys_schedule() == 0
    assert not FormInvitation.objects.filter(purpose=FormInvitation.Purpose.SURVEY).exists()


def test_the_weekly_survey_is_sent_at_ten_and_answered_through_its_link(world, clock):
    _book_course(world)
    weekly_surveys_schedule()
    clock.move_to(local(2027, 3, 2, 9, 59))
    dispatch()
    assert not [m for m in mail.outbox if "/forms/" in m.body]
    clock.move_to(local(2027, 3, 2, 10))
    dispatch()
    [email] = [m for m in emails_to(world.patient.email) if "/forms/" in m.body]
    assert email.subject == "Riverside clinic: how have you been?"
    response = answer_survey(link_token(email.body), {"phq9": phq9(), "gad7": gad7()})
    assert response.status_code == 200, response.content
