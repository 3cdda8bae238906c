from django.apps import AppConfig


class VastsimConfig(AppConfig):
    name = "vastsim"
    verbose_name = "Vast.ai simulator"
    default_auto_field = "django.db.models.BigAutoField"
