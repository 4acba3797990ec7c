"""Routes of the intake API under /api/v1/ (staff endpoints and the patient-link forms/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("questionnaires", views.QuestionnaireViewSet, basename="questionnaire")
router.register("assessments", views.AssessmentViewSet, basename="assessment")

urlpatterns = [
    path(
        "patients/<int:patient_id>/intake-invitations/",
        views.PatientIntakeInvitationsView.as_view(),
        name="patient-intake-invitations",
    ),
    path(
        "patients/<int:patient_id>/risk-assessments/",
        views.PatientRiskAssessmentsView.as_view(),
        name="patient-risk-assessments",
    ),
    path(
        "intake-invitations/<int:invitation_id>/revoke/", views.InvitationRevokeView.as_view(), name="invitation-revoke"
    ),
    path("patients/<int:patient_id>/outcomes/", views.PatientOutcomesView.as_view(), name="patient-outcomes"),
    path("forms/<str:token>/", views.FormView.as_view(), name="form"),
    path("forms/<str:token>/responses/<slug:code>/", views.FormDraftView.as_view(), name="form-draft"),
    path("forms/<str:token>/submit/", views.FormSubmitView.as_view(), name="form-submit"),
    *router.urls,
]
