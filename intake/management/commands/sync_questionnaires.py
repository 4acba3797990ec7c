"""``manage.py sync_questionnaires``: load shipped questionnaire definitions that are not in the database yet."""

from django.core.management.base import BaseCommand

from intake.services.questionnaires import questionnaires_sync


class Command(BaseCommand):
    help = "Load the shipped questionnaire definitions (idempotent; refuses a changed file without a new version)."

    def handle(self, *args, **options):
        created = questionnaires_sync()
        self.stdout.write(self.style.SUCCESS(f"{len(created)} definition(s) loaded: {', '.join(created) or 'none'}"))
