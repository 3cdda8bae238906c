from django.apps import AppConfig


class InstancesConfig(AppConfig):
    name = "instances"

    def ready(self):
        from dashboard.guardrails import register_usage_provider
        from instances import checks, spending, tasks  # noqa: F401  (registers the deploy check and the worker's tasks)

        register_usage_provider(spending.usage)
