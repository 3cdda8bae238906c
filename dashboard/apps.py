from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _create_roles(sender, **kwargs):
    from dashboard.roles import ensure_roles

    ensure_roles()


class DashboardConfig(AppConfig):
    name = "dashboard"

    def ready(self):
        from django.urls import register_converter

        from dashboard import after_response, checks  # noqa: F401  (connect its signals; register the deploy checks)
        from dashboard.converters import VastIdConverter

        register_converter(VastIdConverter, "vast_id")

        post_migrate.connect(_create_roles, dispatch_uid="dashboard-roles")
