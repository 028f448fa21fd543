from django.apps import AppConfig


class AdminThemeConfig(AppConfig):
    name = "admin_theme"
    verbose_name = "Admin theme"

    def ready(self):
        # After every app's admin module (django-q2's included) has registered.
        from admin_theme import jobs_admin, security_admin  # noqa: F401
