"""OpenAPI naming for the scheduling app's choice sets (see SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"])."""

from scheduling.models import Session

SESSION_STATUS_CHOICES = Session.Status.choices
