"""Migration operations that touch the database only on PostgreSQL.

PostgreSQL holds invariants SQLite cannot express (exclusion constraints, triggers). The model
state still records them, so ``makemigrations --check`` stays clean on both; SQLite, the
embedded first-run default, gets its safety from serialised write transactions instead.
"""

from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations


def _is_postgres(schema_editor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


class RunSQLOnPostgres(migrations.RunSQL):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if _is_postgres(schema_editor):
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if _is_postgres(schema_editor):
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class AddConstraintOnPostgres(migrations.AddConstraint):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if _is_postgres(schema_editor):
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if _is_postgres(schema_editor):
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class BtreeGistExtensionOnPostgres(BtreeGistExtension):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if _is_postgres(schema_editor):
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if _is_postgres(schema_editor):
            super().database_backwards(app_label, schema_editor, from_state, to_state)
