"""OpenAPI helpers: the problem-details schema and the error responses each operation declares."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from clinic.models import Alert, Channel, Modality, Room

# Choice sets that share a field name ("kind") get distinct enum names in the schema;
# SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] points at these module-level lists.
ROOM_KIND_CHOICES = Room.Kind.choices
ALERT_KIND_CHOICES = Alert.Kind.choices
ALERT_SEVERITY_CHOICES = Alert.Severity.choices
MODALITY_CHOICES = Modality.choices
CHANNEL_CHOICES = Channel.choices


class ProblemSerializer(serializers.Serializer):
    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)
    request_id = serializers.CharField(required=False)


_DESCRIPTIONS = {
    400: "Invalid input; `errors` names each field and why.",
    401: "Not authenticated.",
    403: "Your role may not do this.",
    404: "No such record (or it belongs to another clinic).",
    409: "Conflicts with the current state; `code` names the conflict.",
    410: "The link has expired or was revoked.",
    422: "A clinical rule refuses the request; `code` names the rule.",
    429: "Too many requests or locked out.",
}


def problems(*statuses: int) -> dict[int, OpenApiResponse]:
    """Problem-details responses for the given statuses (401 is added for every staff endpoint)."""
    return {
        status: OpenApiResponse(response=ProblemSerializer, description=_DESCRIPTIONS[status]) for status in statuses
    }


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents ``Authorization: Bearer <token>`` (clinic.authentication) in the schema."""

    target_class = "clinic.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A token from POST /api/v1/auth/token/."}
