# The single-column indexes Django gave the audit table's three keys duplicate the leading column
# of the (key, -occurred_at) indexes. Only the indexes are dropped: altering the fields in the
# database as well would drop and re-add the foreign keys, re-checking every audit row under a
# lock on the patient and user tables.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

INDEXES = {
    "actor_id": "clinic_auditevent_actor_id_5c6b5919",
    "clinic_id": "clinic_auditevent_clinic_id_1f8a790d",
    "patient_id": "clinic_auditevent_patient_id_bc338fe1",
}


class Migration(migrations.Migration):

    dependencies = [
        ('clinic', '0009_clinic_message_name'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX "{name}" ON "clinic_auditevent" ("{column}")',
                )
                for column, name in INDEXES.items()
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='auditevent',
                    name='actor',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name='auditevent',
                    name='clinic',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='clinic.clinic'),
                ),
                migrations.AlterField(
                    model_name='auditevent',
                    name='patient',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='clinic.patient'),
                ),
            ],
        ),
    ]
