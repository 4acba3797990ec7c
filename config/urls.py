"""Top-level routes: the versioned API, its schema and docs, the admin, and the patient pages."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

api_v1 = [
    path("", include("clinic.api.urls")),
    path("", include("intake.api.urls")),
    path("", include("scheduling.api.urls")),
    path("", include("monitoring.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Browser login for the browsable API and the docs (session auth), any staff role.
    path("auth/session/", include("rest_framework.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
    # The patient's pages for a link (intake, surveys): server-rendered HTML.
    path("forms/", include("intake.pages.urls")),
]

handler404 = "clinic.api.errors.not_found_view"
handler500 = "clinic.api.errors.server_error_view"
