"""A user's model permissions, remembered between requests.

Django's ModelBackend reads a user's model permissions with two queries (their
own and their groups') once per request: every admin page and autocomplete
answer a non-superuser opens pays them (a superuser has every permission
unread). `CachedModelBackend` keeps each user's set in the cache, stamped with a
generation; any change to whom a group or permission belongs moves the
generation on, and a set stamped with another generation is read again. The
generation moves when the change is made and again when its transaction
commits: a request reading the database between the two would otherwise stamp
the old set with the new generation.

Object permissions (django-guardian's, a support agent's organizations) are not
cached here: the scope is a subquery of every list's own query.
"""

import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save

GENERATION_KEY = "auth-permissions:generation"
# Django sends no signal for link rows written or deleted through the link model
# itself (`User.groups.through.objects...delete()`; nothing here does): a set is
# read again after five minutes whatever happens.
TIMEOUT = 5 * 60


def _user_key(user) -> str:
    # Databases that share a cache (tests, dev and bench on one Redis) share no sets.
    return f"auth-permissions:{settings.DATABASES['default']['NAME']}:{user.pk}"


class CachedModelBackend(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            user_obj._perm_cache = self._remembered(user_obj)
        return user_obj._perm_cache

    def _remembered(self, user) -> set[str]:
        key = _user_key(user)
        found = cache.get_many([GENERATION_KEY, key])
        generation = found.get(GENERATION_KEY)
        if generation is None:  # first use, or evicted: every stored set is stale
            cache.add(GENERATION_KEY, uuid.uuid4().hex, None)
            generation = cache.get(GENERATION_KEY)
        stamp = (generation, user.is_superuser)
        entry = found.get(key)
        if entry is not None and entry[0] == stamp:
            return set(entry[1])
        permissions = BaseBackend.get_all_permissions(self, user)
        cache.set(key, (stamp, frozenset(permissions)), TIMEOUT)
        return permissions


def forget_all(**kwargs) -> None:
    """Every remembered set is stale: now, and once the change commits."""
    _move_generation()
    transaction.on_commit(_move_generation)


def _move_generation() -> None:
    cache.set(GENERATION_KEY, uuid.uuid4().hex, None)


def connect() -> None:
    """Forget on every change that can change someone's model permissions."""
    User = get_user_model()
    for through in (
        User.groups.through,
        User.user_permissions.through,
        Group.permissions.through,
    ):
        m2m_changed.connect(forget_all, sender=through, dispatch_uid=f"perms-{through}")
    for model in (Group, Permission):
        for signal in (post_save, post_delete):
            signal.connect(forget_all, sender=model, dispatch_uid=f"perms-{model}")
    # Roles are synced after migrate and flush through the migration state's
    # models, whose signals name other senders.
    post_migrate.connect(forget_all, dispatch_uid="perms-migrate")
