"""The project's URLs plus the baselines: the same booking insert as a minimal Django view (A1) and a
minimal DRF view (A2), and the week calendar as a ``values()`` fast path (A1-calendar)."""

from django.urls import path

from config.urls import handler404, handler500  # noqa: F401
from config.urls import urlpatterns as project_urlpatterns

from . import baselines

urlpatterns = [
    path("bench/ping/", baselines.ping),
    path("bench/orm/", baselines.orm_book),
    path("bench/drf/", baselines.DrfBookView.as_view()),
    path("bench/calendar/", baselines.values_calendar),
    *project_urlpatterns,
]
