"""``manage.py bootstrap_clinic``: create a clinic and its first administrator on a new deployment."""

from django.core.management.base import BaseCommand, CommandError

from clinic.errors import ApplicationError
from clinic.services.clinics import clinic_bootstrap


class Command(BaseCommand):
    help = "Create a clinic (weekday hours 08:00-18:00 to start) and its first clinic administrator."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--timezone", required=True, help="IANA name, e.g. America/New_York")
        parser.add_argument("--admin-username", required=True)
        parser.add_argument("--admin-password", required=True)
        parser.add_argument("--admin-email", default="")
        parser.add_argument("--phone", default="")
        parser.add_argument(
            "--message-name",
            default="",
            help="The name patients see in messages, when the clinic's name names a treatment "
            "(required then: messages are discreet).",
        )

    def handle(self, *args, **options):
        try:
            clinic, member = clinic_bootstrap(
                name=options["name"],
                timezone=options["timezone"],
                admin_username=options["admin_username"],
                admin_password=options["admin_password"],
                admin_email=options["admin_email"],
                phone=options["phone"],
                message_name=options["message_name"],
            )
        except ApplicationError as exc:
            problems = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.errors.items())
            raise CommandError(problems or exc.detail) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Created clinic {clinic.pk} ({clinic.timezone}) with administrator login "
                f"'{member.user.username}' (staff id {member.pk})."
            )
        )
