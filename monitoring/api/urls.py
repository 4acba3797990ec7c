"""Routes of the monitoring API under /api/v1/."""

from django.urls import path

from . import views

urlpatterns = [
    path("sessions/<int:session_id>/monitoring/", views.SessionMonitoringView.as_view(), name="session-monitoring"),
    path("monitoring/board/", views.BoardView.as_view(), name="monitoring-board"),
    path("monitoring/rems-forms/", views.RemsFormsDueView.as_view(), name="rems-forms-due"),
    path("monitoring/<int:record_id>/", views.RecordView.as_view(), name="monitoring-record"),
    path("monitoring/<int:record_id>/vitals/", views.VitalsView.as_view(), name="monitoring-vitals"),
    path("monitoring/<int:record_id>/doses/", views.DosesView.as_view(), name="monitoring-doses"),
    path(
        "monitoring/<int:record_id>/doses/<int:dose_id>/infusion-end/",
        views.InfusionEndView.as_view(),
        name="monitoring-infusion-end",
    ),
    path("monitoring/<int:record_id>/scales/", views.ScalesView.as_view(), name="monitoring-scales"),
    path(
        "monitoring/<int:record_id>/adverse-events/",
        views.AdverseEventsView.as_view(),
        name="monitoring-adverse-events",
    ),
    path("monitoring/<int:record_id>/amendments/", views.AmendmentsView.as_view(), name="monitoring-amendments"),
    path("monitoring/<int:record_id>/discharge/", views.DischargeView.as_view(), name="monitoring-discharge"),
    path("monitoring/<int:record_id>/rems-form/", views.RemsFormView.as_view(), name="monitoring-rems-form"),
    path(
        "monitoring/<int:record_id>/rems-form/submitted/",
        views.RemsFormSubmittedView.as_view(),
        name="monitoring-rems-form-submitted",
    ),
    path(
        "treatment-types/<int:treatment_type_id>/monitoring-policy/",
        views.PolicyView.as_view(),
        name="treatment-type-monitoring-policy",
    ),
]
