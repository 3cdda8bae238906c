from django.apps import AppConfig


class InstancesConfig(AppConfig):
    name = "instances"

    def ready(self):
        from instances import checks, tasks  # noqa: F401  (registers the deploy check and the worker's tasks)
