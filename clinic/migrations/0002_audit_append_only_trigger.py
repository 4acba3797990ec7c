"""On PostgreSQL, refuse UPDATE and DELETE of audit rows at the database, for every writer."""

from django.db import migrations

from clinic.migration_operations import RunSQLOnPostgres

FORWARD = """
CREATE FUNCTION clinic_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER clinic_auditevent_no_update_or_delete
    BEFORE UPDATE OR DELETE ON clinic_auditevent
    FOR EACH ROW EXECUTE FUNCTION clinic_auditevent_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS clinic_auditevent_no_update_or_delete ON clinic_auditevent;
DROP FUNCTION IF EXISTS clinic_auditevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("clinic", "0001_initial")]

    operations = [RunSQLOnPostgres(FORWARD, BACKWARD)]
