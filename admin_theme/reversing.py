"""URLs reversed once per process: the URLconf does not change while it runs."""

import functools

from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse


@functools.cache
def _reverse(viewname: str, args: tuple, prefix: str, urlconf) -> str | None:
    try:
        return reverse(viewname, args=args, urlconf=urlconf)
    except NoReverseMatch:
        return None


def cached_reverse(viewname: str, *args) -> str | None:
    """`reverse(viewname, args=args)`, None where it does not reverse; remembered
    per script prefix and URLconf. For the names every page reverses again (the
    sidebar's 15 links, a list's change-page pattern): ~40 us each."""
    return _reverse(viewname, args, get_script_prefix(), get_urlconf())
