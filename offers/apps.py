from django.apps import AppConfig


class OffersConfig(AppConfig):
    name = "offers"

    def ready(self):
        from offers import tasks  # noqa: F401  (registers the worker's price-alert and history tasks)
