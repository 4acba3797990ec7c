"""The peer's own URLs (its AJAX ``available_slots/`` endpoint lives under /appointment/)."""

from django.urls import include, path

urlpatterns = [path("appointment/", include("appointment.urls"))]
