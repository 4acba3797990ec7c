"""Load the questionnaires shipped with the product (PHQ-9, GAD-7, PCL-5 and the candidacy set).

The same idempotent function backs ``manage.py sync_questionnaires``; a later version of a
definition ships with a new migration that calls it again.
"""

from django.db import migrations


def load(apps, schema_editor):
    from intake.services.questionnaires import questionnaires_sync

    questionnaires_sync(model=apps.get_model("intake", "Questionnaire"))


class Migration(migrations.Migration):
    dependencies = [("intake", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
