"""Routes of the clinic API under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("clinics", views.ClinicViewSet, basename="clinic")
router.register("rooms", views.RoomViewSet, basename="room")
router.register("staff", views.StaffViewSet, basename="staff")
router.register("patients", views.PatientViewSet, basename="patient")
router.register("audit-events", views.AuditEventViewSet, basename="audit-event")
router.register("alerts", views.AlertViewSet, basename="alert")
router.register("notifications", views.NotificationViewSet, basename="notification")

urlpatterns = [
    path("auth/token/", views.AuthTokenView.as_view(), name="auth-token"),
    path("auth/logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("me/", views.MeView.as_view(), name="me"),
    *router.urls,
]
