from django.apps import AppConfig


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinic"

    def ready(self) -> None:
        from .api import schema  # noqa: F401 - registers the OpenAPI authentication extension
        from .messaging.alerts import register_renderers

        register_renderers()
