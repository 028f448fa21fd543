from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    # Two-factor pages live under /admin/ but outside the admin site.
    path("admin/", include("admin_theme.urls")),
    path("admin/", admin.site.urls),
]
