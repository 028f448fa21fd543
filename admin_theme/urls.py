from django.urls import path

from admin_theme import tenant_pin, two_factor

app_name = "admin_theme"

urlpatterns = [
    path("2fa/setup/", two_factor.setup, name="2fa_setup"),
    path("2fa/verify/", two_factor.verify, name="2fa_verify"),
    path("pin/", tenant_pin.pin, name="pin"),
    path("unpin/", tenant_pin.unpin, name="unpin"),
]
