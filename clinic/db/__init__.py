"""Database backends of the project (see ``clinic.db.postgresql``)."""
