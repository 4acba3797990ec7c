"""``manage.py seed_demo``: load the idempotent demo clinic and print how to log in."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from clinic import demo


class Command(BaseCommand):
    help = "Create (or complete) the demo clinic, its staff logins and patients, and print the logins."

    def handle(self, *args, **options):
        from intake.demo import seed_intake, seed_survey_link
        from scheduling.demo import seed_schedule

        with transaction.atomic():
            context = demo.seed_clinic()
            link = seed_intake(context)
            booked = seed_schedule(context)
            survey_link = seed_survey_link(context)
        base = settings.PUBLIC_BASE_URL.rstrip("/")
        self.stdout.write(self.style.SUCCESS(f"Demo clinic ready: {context.clinic.name} (id {context.clinic.pk})"))
        if booked:
            self.stdout.write(
                f"  Booked {booked} demo sessions over the next fortnight, two induction series among them."
            )
        self.stdout.write(f"  API:       {base}/api/v1/")
        self.stdout.write(f"  API docs:  {base}/api/v1/docs/   (log in at {base}/api/v1/auth/session/login/ first)")
        self.stdout.write(f"  Admin:     {base}/admin/")
        self.stdout.write(f"  Logins (password for all: {demo.DEMO_PASSWORD}):")
        for role, (username, *_names) in demo.DEMO_USERS.items():
            self.stdout.write(f"    {role.label:<22} {username}")
        if link is not None:
            self.stdout.write(
                f"  A patient's intake link (Drew Halvorsen, valid {link.invitation.expires_at:%Y-%m-%d}):"
            )
            self.stdout.write(f"    {link.url}")
            self.stdout.write(f"    (as JSON: {base}/api/v1/forms/{link.token}/)")
        if survey_link:
            self.stdout.write(f"  A follow-up survey link (Avery Lindqvist): {survey_link}")
        self.stdout.write(
            f"  Get a token:  curl -s -X POST {base}/api/v1/auth/token/ -H 'Content-Type: application/json' "
            f'-d \'{{"username": "demo-frontdesk", "password": "{demo.DEMO_PASSWORD}"}}\''
        )
