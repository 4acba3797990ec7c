"""OpenAPI naming for the intake app's choice sets (see SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"])."""

from intake.models import Questionnaire

QUESTIONNAIRE_KIND_CHOICES = Questionnaire.Kind.choices
