"""django-appointment (PyPI), the peer: its own Django project, database and virtual environment."""
