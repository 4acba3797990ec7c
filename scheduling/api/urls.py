"""Routes of the scheduling API under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("treatment-types", views.TreatmentTypeViewSet, basename="treatment-type")
router.register("sessions", views.SessionViewSet, basename="session")

urlpatterns = [
    path("protocols/", views.ProtocolListView.as_view(), name="protocols"),
    path("availability/", views.AvailabilityView.as_view(), name="availability"),
    path("series/", views.SeriesView.as_view(), name="series"),
    path("staff/<int:staff_id>/availability/", views.StaffAvailabilityView.as_view(), name="staff-availability"),
    path("staff/<int:staff_id>/availability/time-off/", views.StaffTimeOffView.as_view(), name="staff-time-off"),
    path(
        "staff/<int:staff_id>/availability/time-off/<int:time_off_id>/",
        views.StaffTimeOffDetailView.as_view(),
        name="staff-time-off-detail",
    ),
    *router.urls,
]
