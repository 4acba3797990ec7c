"""OpenAPI naming for the monitoring app's choice sets (see SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"])."""

from monitoring.models import AdverseEvent

ADVERSE_EVENT_SEVERITY_CHOICES = AdverseEvent.Severity.choices
