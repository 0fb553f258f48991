from django.apps import AppConfig


class ApranovaConfig(AppConfig):
    name = "apranova"
    verbose_name = "Apra Nova"
