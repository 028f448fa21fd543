"""django-axes' lock-out records and django-otp's devices, restyled by Unfold and
made count-safe. Only platform admins have their permissions: deleting an access
attempt unlocks a locked-out login; deleting a device makes its owner enrol again."""

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.admin import ModelAdmin

from admin_theme.admin import CountSafeMixin

for model, base in [
    (AccessAttempt, AccessAttemptAdmin),
    (AccessLog, AccessLogAdmin),
    (AccessFailureLog, AccessFailureLogAdmin),
    (TOTPDevice, TOTPDeviceAdmin),
    (StaticDevice, StaticDeviceAdmin),
]:
    admin.site.unregister(model)
    admin.site.register(
        model, type(base.__name__, (CountSafeMixin, base, ModelAdmin), {})
    )
