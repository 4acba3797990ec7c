"""OpenAPI naming for the intake app's choice sets (see SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"])."""

from intake.models import Assessment, Questionnaire

QUESTIONNAIRE_KIND_CHOICES = Questionnaire.Kind.choices
ASSESSMENT_STATUS_CHOICES = Assessment.Status.choices
