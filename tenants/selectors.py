"""Reads of tenants, and the one place that decides which organizations a user sees."""

import copy
import functools

from django.contrib.auth.models import Permission
from django.contrib.postgres.fields import ArrayField
from django.db import connections
from django.db.models import (
    BigIntegerField,
    Exists,
    F,
    Lookup,
    OuterRef,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import Col, RawSQL
from django.db.models.lookups import In
from django.db.models.sql.where import AND, WhereNode
from django.utils import timezone

from tenants.models import (
    ORGANIZATION_ARRAY,
    Membership,
    Organization,
    OrganizationUserObjectPermission,
    Subscription,
    User,
)

SUPPORT_PERMISSION = "support_organization"


def sees_all_organizations(user) -> bool:
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.is_superuser or user.has_perm("tenants.view_all_organizations"))
    )


def organizations_visible_to(user) -> QuerySet[Organization]:
    """Organizations `user` may see: all for admins, managers and finance; the
    assigned ones (a guardian object permission) for support agents; none otherwise.

    The result is lazy, so callers use it as a subquery (no Python list of ids).
    """
    organizations = Organization.all_objects.all()
    if not user.is_authenticated or not user.is_active:
        return organizations.none()
    if sees_all_organizations(user):
        return organizations
    return organizations.filter(
        Exists(
            OrganizationUserObjectPermission.objects.filter(
                content_object=OuterRef("pk"),
                user=user,
                permission__codename=SUPPORT_PERMISSION,
            )
        )
    )


# The SQL of a subquery and its parameters.
SQL = tuple[str, tuple]


class AnyOf(Lookup):
    """`column = ANY(ARRAY(<subquery>))`: the scoping subquery runs once, before
    the list (an InitPlan), instead of being planned as a join whose size the
    planner cannot know. With a semi-join PostgreSQL guesses one organization of
    average size and, for an agent holding a large one, sorts its 150k tasks for
    a 50-row page; with the array it walks the ordering's index and stops at 50."""

    lookup_name = "any_of"
    prepare_rhs = False
    # How the condition is written (the same rows each way): "any" as above;
    # "overlap", `ARRAY[column] && ARRAY(<subquery>)` (see `overlapping`);
    # "filter", `column + 0 = ANY(...)`, which no index serves (`scope_as_filter`).
    form = "any"

    def __init__(self, column: str | Col, subquery: SQL):
        sql, params = subquery
        self.subquery = subquery
        column = F(column) if isinstance(column, str) else column
        super().__init__(
            column, RawSQL(f"ARRAY({sql})", params, output_field=_ID_ARRAY)
        )

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = compiler.compile(self.rhs)
        if self.form == "overlap":
            return f"ARRAY[{lhs}] && {rhs}", (*lhs_params, *rhs_params)
        if self.form == "filter":
            return f"({lhs} + 0) = ANY({rhs})", (*lhs_params, *rhs_params)
        return f"{lhs} = ANY({rhs})", (*lhs_params, *rhs_params)


_ID_ARRAY = ArrayField(BigIntegerField())


def is_organization_scope(condition) -> bool:
    """`organization_id = ANY(<the user's organizations>)`, as `scope_to_user`
    filters organization-owned rows (nothing else filters with AnyOf on it)."""
    return isinstance(condition, AnyOf) and condition.lhs.target.name == "organization"


def own_column(query, name: str) -> Col:
    """The column of field `name` of `query`'s model, on its own table: what a
    condition added straight to `query.where` (as `filter` adds one) stands on,
    without resolving the name through the ORM (0.16 ms per request of an
    agent's autocomplete)."""
    return query.model._meta.get_field(name).get_col(query.get_initial_alias())


def overlapping(queryset: QuerySet) -> QuerySet:
    """`queryset` with its organization scope written as an array overlap, where
    its model has a GIN index led by ORGANIZATION_ARRAY: PostgreSQL then reads
    the scope and a search's trigrams from that one index (a bitmap of the
    agent's matches only) instead of ANDing a bitmap of every row of their
    organizations (148k at 1M tasks for the mixed agent: 12.7 ms -> 5.5)."""
    if not any(
        index.expressions[:1] == (ORGANIZATION_ARRAY,)
        for index in queryset.model._meta.indexes
    ):
        return queryset
    return _scope_written(queryset, "overlap")


def scope_as_filter(queryset: QuerySet) -> QuerySet:
    """`queryset` with its organization scope written so that no index serves
    it, for a statement whose other conditions already name the organizations
    (a search of keys by organization, admin_theme.search): PostgreSQL
    otherwise ANDed in a bitmap of every row of the scope (148,616 tasks for
    the mixed agent at 1M: their search for "web" 18 ms, 10 without)."""
    return _scope_written(queryset, "filter")


def scope_as_ids(queryset: QuerySet) -> QuerySet:
    """`queryset` with its organization scope read, and written as the list of
    its ids, for PostgreSQL's estimate of its rows: it estimates constants from
    the column's statistics (the mixed agent's live tasks at 1M: 147,539 for
    147,124), but the rows of an array it reads from a subquery by a fixed
    guess (9,871). The ids are as of this read: for estimates, not for lists."""
    scoped = queryset.all()
    where = scoped.query.where
    if where.connector != AND or where.negated:
        return queryset
    for i, child in enumerate(where.children):
        if is_organization_scope(child):
            with connections[queryset.db].cursor() as cursor:
                cursor.execute(*child.subquery)
                ids = [row[0] for row in cursor.fetchall()]
            where.children[i] = In(child.lhs, ids)
    return scoped


def _scope_written(queryset: QuerySet, form: str) -> QuerySet:
    queryset = queryset.all()

    def rewrite(node):
        for i, child in enumerate(node.children):
            if is_organization_scope(child):
                child = node.children[i] = copy.copy(child)
                child.form = form
            elif isinstance(child, WhereNode):
                rewrite(child)

    rewrite(queryset.query.where)
    return queryset


def scope_rule(model) -> str:
    """How rows of `model` (or of its history model) are tied to an organization."""
    model = getattr(model, "instance_type", model)  # historical -> tracked model
    if issubclass(model, Organization):
        return "organization"
    if issubclass(model, User):
        return "user"
    if any(f.name == "organization" for f in model._meta.fields):
        return "tenant"
    return "global"


def scope_to_user(queryset: QuerySet, user) -> QuerySet:
    """Limit a queryset (of a model or its history) to what `user` may see.

    Organizations by id, users by membership, tenant-owned rows by organization;
    global catalogues (plans) are left to the model permission. A user pinned to
    one organization (`user.pinned_organization_id`, set by the tenant switcher)
    sees only that one.
    """
    rule = scope_rule(queryset.model)
    if rule == "global":
        return queryset
    visible = organizations_in_scope(user)
    if visible is None:
        return queryset
    if rule == "organization":
        return _any_of(queryset, "id", visible)
    if rule == "user":
        return queryset.filter(
            Exists(
                Membership.objects.filter(
                    AnyOf("organization_id", visible), user=OuterRef("id")
                )
            )
        )
    return _any_of(queryset, "organization", visible)


def _any_of(queryset: QuerySet, name: str, visible: SQL) -> QuerySet:
    """`queryset.filter(AnyOf(name, visible))`, built on `own_column` (an
    agent's autocomplete: 1.22x -> 1.15x the platform admin's). A combined or
    sliced queryset goes to `filter`, which refuses it."""
    if queryset.query.combinator or queryset.query.is_sliced:
        return queryset.filter(AnyOf(name, visible))
    queryset = queryset.all()
    queryset.query.where.add(AnyOf(own_column(queryset.query, name), visible), AND)
    return queryset


NO_ORGANIZATIONS: SQL = ("SELECT NULL::bigint WHERE FALSE", ())


def _sql(queryset: QuerySet) -> SQL:
    return queryset.order_by().query.get_compiler(queryset.db).as_sql()


@functools.lru_cache(maxsize=4096)
def _support_grants(user_id: int, pinned: int | None) -> SQL:
    """The SQL of the organization ids of one agent's support grants (of the one
    they are pinned to): compiled once per agent and pin, not per request (the
    ORM's build and compile were half the cost of an agent's autocomplete
    answer over a platform admin's). It names only these two ids, as
    parameters; what it finds is read afresh by every statement."""
    # The permission as a scalar subquery: PostgreSQL plans it in 0.05 ms less
    # than a join to it (and a second permission of that codename is an error,
    # not a wider scope).
    support = Permission.objects.filter(codename=SUPPORT_PERMISSION).order_by()
    grants = OrganizationUserObjectPermission.objects.filter(
        permission=Subquery(support.values("pk")), user_id=user_id
    )
    if pinned is not None:
        grants = grants.filter(content_object_id=pinned)
    return _sql(grants.values("content_object_id"))


def organizations_in_scope(user) -> SQL | None:
    """The SQL of the ids of the organizations whose rows `user` sees, a
    subquery; None when that is every organization.

    Built once per user object and pin (a request scopes its list, its count and
    its page with it): the subquery is only SQL, run afresh by each statement
    that uses it, so what it finds is never stale."""
    pinned = getattr(user, "pinned_organization_id", None)
    built = getattr(user, "_organizations_in_scope", None)
    if built is not None and built[0] == pinned:
        return built[1]
    sees_all = sees_all_organizations(user)
    if sees_all and pinned is None:
        visible = None
    elif sees_all:
        # A platform user pinned to one organization (the tenant switcher).
        visible = _sql(Organization.all_objects.filter(pk=pinned).values("pk"))
    elif not (user.is_authenticated and user.is_active):
        visible = NO_ORGANIZATIONS
    else:
        # An agent's organizations are those of their support grants: read from
        # the grants alone (organizations_visible_to's EXISTS over them is the
        # same set), a subquery every scoped statement embeds, plans and runs.
        visible = _support_grants(user.pk, pinned)
    user._organizations_in_scope = (pinned, visible)
    return visible


def is_visible(user, obj) -> bool:
    """Whether one object is inside `user`'s view."""
    model = type(obj)
    return scope_to_user(model._base_manager.filter(pk=obj.pk), user).exists()


LIVE_SUBSCRIPTION_STATUSES = (
    Subscription.Status.TRIALING,
    Subscription.Status.ACTIVE,
    Subscription.Status.PAST_DUE,
)


def organization_has_current_subscription(*, organization: Organization) -> bool:
    """Whether a live subscription of `organization` runs past now."""
    return Subscription.objects.filter(
        organization=organization,
        status__in=LIVE_SUBSCRIPTION_STATUSES,
        current_period_end__gt=timezone.now(),
    ).exists()


def organization_admin_emails(*, organization: Organization) -> list[str]:
    """The addresses of the active owners and admins of `organization`."""
    return list(
        Membership.objects.filter(
            organization=organization,
            role__in=[Membership.Role.OWNER, Membership.Role.ADMIN],
            user__is_active=True,
        )
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )
