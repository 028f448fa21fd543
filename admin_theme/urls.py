from django.urls import path

from admin_theme import saved_views, tenant_pin, two_factor

app_name = "admin_theme"

urlpatterns = [
    path("2fa/setup/", two_factor.setup, name="2fa_setup"),
    path("2fa/verify/", two_factor.verify, name="2fa_verify"),
    path("pin/", tenant_pin.pin, name="pin"),
    path("unpin/", tenant_pin.unpin, name="unpin"),
    path("saved-views/save/", saved_views.save_view, name="save_view"),
]
