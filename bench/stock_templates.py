"""Django's own admin templates for the stock admin site, Unfold's for ours.

Unfold is installed before `django.contrib.admin`, so `admin/change_list.html`
resolves to Unfold's template. The stock site (`/stock-admin/`) must render
Django's, or it would not be the stock admin. A middleware flags stock requests;
the template loader then looks in Django's admin templates first and keeps a
separate cache for them (both sites render from cached, compiled templates).
"""

from contextvars import ContextVar
from pathlib import Path

import django.contrib.admin
from django.template.loaders import cached, filesystem

STOCK_PREFIX = "/stock-admin/"
STOCK_TEMPLATES = Path(django.contrib.admin.__file__).parent / "templates"
_stock: ContextVar[bool] = ContextVar("bench_stock_admin", default=False)


class StockTemplatesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _stock.set(request.path.startswith(STOCK_PREFIX))
        try:
            return self.get_response(request)
        finally:
            _stock.reset(token)


class StockAdminLoader(filesystem.Loader):
    """Django's admin templates, for stock requests only."""

    def get_dirs(self):
        return [STOCK_TEMPLATES] if _stock.get() else []


class Loader(cached.Loader):
    """The cached loader, with one cache for stock requests and one for ours."""

    def cache_key(self, template_name, skip=None):
        key = super().cache_key(template_name, skip)
        return f"stock:{key}" if _stock.get() else key
