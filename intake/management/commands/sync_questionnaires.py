"""``manage.py sync_questionnaires``: load shipped questionnaire definitions that are not in the database yet."""

from django.core.management.base import BaseCommand, CommandError

from intake.services.questionnaires import ShippedDefinitionChanged, questionnaires_sync


class Command(BaseCommand):
    help = "Load the shipped questionnaire definitions (idempotent; refuses a changed file without a new version)."

    def handle(self, *args, **options):
        try:
            created = questionnaires_sync()
        except ShippedDefinitionChanged as exc:
            # A one-line error and exit status 1, not a traceback: the operator's fix is a new version.
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"{len(created)} definition(s) loaded: {', '.join(created) or 'none'}"))
