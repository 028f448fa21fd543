"""The project's URLs plus the stock admin site at /stock-admin/ (benchmarks only)."""

from django.urls import path

from backoffice.urls import urlpatterns as project_urlpatterns
from bench.stock import site as stock_site

urlpatterns = [path("stock-admin/", stock_site.urls), *project_urlpatterns]
