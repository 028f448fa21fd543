"""The access matrix: every registered ModelAdmin x every surface x every role.

Built from `admin.site._registry`, so a new model is covered without editing the
tests; a tenant-owned model without a recipe in `WORLD_RECIPES` fails the matrix.
Each cell returns the problems it found (a leak, a wrong status); the tests assert
there are none, and the mutation test asserts a non-scoping helper is caught.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.forms import ModelChoiceField, ModelMultipleChoiceField
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse

from audit.models import AuditEvent
from audit.services import audit_event_record
from tenants import roles
from tenants.models import Invoice, Membership, Organization, Plan, Subscription, User
from tenants.selectors import scope_rule
from tenants.services import support_grant
from tests.factories import (
    CommentFactory,
    InvoiceFactory,
    OrganizationFactory,
    ProjectFactory,
    StaffFactory,
    SubscriptionFactory,
    TagFactory,
    TaskFactory,
    UserFactory,
)
from work.models import Comment, Notification, Project, Tag, Task

FOREIGN = "faraway"  # in every foreign row's text; must never reach a scoped user
HOME = "homeland"

ROLES = [
    "platform_admin",
    "tenant_manager",
    "finance",
    "support_agent",
    "support_unassigned",
]


@dataclass
class World:
    home: dict = field(default_factory=dict)  # model -> home object
    foreign: dict = field(default_factory=dict)  # model -> foreign object
    users: dict = field(default_factory=dict)  # role -> user


def _org_world(org: Organization, token: str, plan: Plan) -> dict:
    user = UserFactory(email=f"member@{token}.example", full_name=f"{token} member")
    membership = Membership.objects.create(organization=org, user=user, role="owner")
    subscription = SubscriptionFactory(organization=org, plan=plan)
    invoice = InvoiceFactory(subscription=subscription, number=f"INV-{token}")
    project = ProjectFactory(organization=org, name=f"{token} project", key="PRJ")
    tag = TagFactory(organization=org, name=f"{token}-tag")
    task = TaskFactory(project=project, title=f"{token} task", assignee=user)
    task.tags.add(tag)
    comment = CommentFactory(task=task, content=f"{token} comment")
    notification = Notification.objects.create(
        organization=org, recipient=user, category="system", message=f"{token} notice"
    )
    event = audit_event_record(
        actor=user, action=AuditEvent.Action.UPDATE, organization=org, target=task
    )
    return {
        Organization: org,
        User: user,
        Membership: membership,
        Subscription: subscription,
        Invoice: invoice,
        Project: project,
        Tag: tag,
        Task: task,
        Comment: comment,
        Notification: notification,
        AuditEvent: event,
    }


def build_world() -> World:
    plan = Plan.objects.create(
        code="global", name="Global plan", tier="pro", monthly_price=Decimal("9")
    )
    home = OrganizationFactory(name=f"{HOME.title()} Inc", slug=HOME)
    foreign = OrganizationFactory(name=f"{FOREIGN.title()} Ltd", slug=FOREIGN)
    world = World(
        home=_org_world(home, HOME, plan), foreign=_org_world(foreign, FOREIGN, plan)
    )
    world.home[Plan] = world.foreign[Plan] = plan
    for role, group in [
        ("tenant_manager", roles.TENANT_MANAGER),
        ("finance", roles.FINANCE),
        ("support_agent", roles.SUPPORT_AGENT),
        ("support_unassigned", roles.SUPPORT_AGENT),
    ]:
        user = StaffFactory(email=f"{role}@staff.test")
        user.groups.add(Group.objects.get(name=group))
        world.users[role] = user
    world.users["platform_admin"] = StaffFactory(
        email="platform_admin@staff.test", is_superuser=True
    )
    support_grant(
        actor=world.users["platform_admin"],
        organization=home,
        agent=world.users["support_agent"],
    )
    return world


def registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def _sees(role: str, obj_is_home: bool) -> bool:
    if role == "support_agent":
        return obj_is_home
    return role != "support_unassigned"


class Cell:
    """Runs every surface of one (model admin, role) pair and collects problems."""

    def __init__(self, client, world: World, model, model_admin, role: str):
        self.client, self.world, self.model, self.model_admin = (
            client,
            world,
            model,
            model_admin,
        )
        self.role, self.user = role, world.users[role]
        self.opts = model._meta
        self.scoped = scope_rule(model) != "global"
        self.problems: list[str] = []
        self.requests = 0

    # --- helpers -----------------------------------------------------------------
    def _url(self, name: str, *args) -> str | None:
        try:
            return reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=args
            )
        except NoReverseMatch:
            return None

    def _request(self):
        request = RequestFactory().get("/")
        request.user = self.user
        return request

    def _perm(self, action: str) -> bool:
        """What the ModelAdmin itself grants (model permission and its own rules)."""
        return getattr(self.model_admin, f"has_{action}_permission")(self._request())

    def _get(self, surface: str, url: str, expected: set[int]):
        response = self.client.get(url)
        self.requests += 1
        body = response.content.decode(errors="replace").lower()
        if response.status_code not in expected:
            self.problems.append(
                f"{surface}: status {response.status_code}, expected {expected}"
            )
        if self.role.startswith("support") and FOREIGN in body:
            self.problems.append(f"{surface}: foreign row leaked into the response")
        return response, body

    def _expect(self, visible: bool, perm: bool) -> set[int]:
        if not perm:
            return {403, 404}  # no permission: refused, never shown
        return {200} if visible else {404}

    # --- surfaces ----------------------------------------------------------------
    def run(self) -> list[str]:
        self.client.force_login(self.user)
        can_view = self._perm("view") or self._perm("change")
        self.changelist(can_view)
        for is_home, obj in (
            (True, self.world.home.get(self.model)),
            (False, self.world.foreign.get(self.model)),
        ):
            if obj is None:
                continue
            visible = _sees(self.role, is_home) or not self.scoped
            self.object_views(obj, visible, can_view)
        self.form_choices()
        self.autocomplete()
        self.trash(can_view)
        self.actions_on_foreign_ids()
        return self.problems

    def trash(self, can_view: bool):
        """The trash of soft-deletable models is scoped like the list."""
        if not hasattr(self.model, "all_objects") or not self.scoped:
            return
        url = f"{self._url('changelist')}?trash=1"
        self._get("trash", url, {200} if can_view else {403})

    def actions_on_foreign_ids(self):
        """Every bulk action, posted (and confirmed) with a forged foreign id, changes
        nothing and names nothing."""
        foreign = self.world.foreign.get(self.model)
        if foreign is None or not self.scoped or not self.role.startswith("support"):
            return
        before = self._fingerprint(foreign)
        actions = self.model_admin.get_actions(self._request())
        for name in actions:
            response = self.client.post(
                self._url("changelist"),
                {
                    "action": name,
                    "index": 0,
                    "select_across": 0,
                    "_selected_action": [foreign.pk],
                    "apply": "yes",
                    "post": "yes",
                },
            )
            self.requests += 1
            content = (
                b"".join(response.streaming_content)  # an export streams its rows
                if response.streaming
                else response.content
            )
            body = content.decode(errors="replace").lower()
            if FOREIGN in body:
                self.problems.append(
                    f"action {name}: foreign row named in the response"
                )
            if self._fingerprint(foreign) != before:
                self.problems.append(f"action {name}: changed a foreign row")

    def _fingerprint(self, obj):
        row = type(obj)._base_manager.filter(pk=obj.pk).values().first()
        return row

    def changelist(self, can_view: bool):
        url = self._url("changelist")
        _, body = self._get("changelist", url, {200} if can_view else {403})
        self._get(
            "changelist search",
            f"{url}?q={FOREIGN[1:-1]}",
            {200} if can_view else {403},
        )
        if any(f.name == "organization" for f in self.opts.fields):
            foreign_org = self.world.foreign[Organization].pk
            self._get(
                "changelist filtered by foreign organization",
                f"{url}?organization__id__exact={foreign_org}",
                {200} if can_view else {403},
            )
        if (
            can_view
            and self.role == "support_agent"
            and self.scoped
            and self.world.home.get(self.model) is not None
            and HOME not in body
        ):
            # Positive control: scoping must not simply hide everything.
            self.problems.append(
                "changelist: the agent's own organization's row is missing"
            )

    def object_views(self, obj, visible: bool, can_view: bool):
        pk = obj.pk
        self._get(
            f"change view ({'own' if visible else 'foreign'})",
            self._url("change", pk),
            self._expect(visible, can_view),
        )
        delete_url = self._url("delete", pk)
        if delete_url:
            self._get(
                "delete view", delete_url, self._expect(visible, self._perm("delete"))
            )
        history_url = self._url("history", pk)
        if history_url:
            self._get("history view", history_url, self._expect(visible, can_view))
        history = getattr(self.model, "history", None)
        if history is not None and history_url:
            record = history.filter(id=pk).order_by("history_id").first()
            if record is not None:
                url = self._url("simple_history", pk, record.history_id)
                self._get("history form view", url, self._expect(visible, can_view))
                self.revert_view(pk, record, visible, can_view)
        as_of_url = self._url("history_as_of", pk)
        if as_of_url:
            self._get("history as-of view", as_of_url, self._expect(visible, can_view))

    def revert_view(self, pk, record, visible: bool, can_view: bool):
        """The revert page: only with the revert permission, only on visible rows."""
        url = self._url("history_revert", pk, record.history_id)
        if url is None:
            return
        may_revert = (
            visible
            and can_view
            and self.user.has_perm("audit.revert_history")
            and self._perm("change")
        )
        self._get("revert view", url, {200} if may_revert else {403, 404})

    def form_choices(self):
        """Every FK/M2M field of the admin's forms refuses the foreign row's id."""
        if not self.role.startswith("support"):
            return
        if not (self._perm("add") or self._perm("change")):
            return  # nothing can be posted
        request = self._request()
        form_classes = [self.model_admin.get_form(request)] + [
            inline.get_formset(request).form
            for inline in self.model_admin.get_inline_instances(request)
        ]
        for form_class in form_classes:
            for name, form_field in form_class.base_fields.items():
                if not isinstance(form_field, ModelChoiceField):
                    continue
                related = form_field.queryset.model
                foreign = self.world.foreign.get(related)
                if foreign is None or scope_rule(related) == "global":
                    continue
                value = (
                    [foreign.pk]
                    if isinstance(form_field, ModelMultipleChoiceField)
                    else foreign.pk
                )
                try:
                    form_field.clean(value)
                except ValidationError:
                    continue
                self.problems.append(
                    f"form field {form_class.__name__}.{name} accepts a foreign id"
                )

    def autocomplete(self):
        request = self._request()
        for field_name in self.model_admin.get_autocomplete_fields(request):
            related = self.opts.get_field(field_name).remote_field.model
            url = (
                f"{reverse('admin:autocomplete')}?app_label={self.opts.app_label}"
                f"&model_name={self.opts.model_name}&field_name={field_name}&term="
            )
            self._get(f"autocomplete {field_name}", url, {200, 403})
            if related is Organization and self.role == "support_agent":
                body = self.client.get(url).content.decode().lower()
                if self._perm("view") and HOME not in body:
                    self.problems.append(
                        f"autocomplete {field_name}: own organization missing"
                    )


def run_cell(
    client, world: World, model, model_admin, role: str
) -> tuple[list[str], int]:
    cell = Cell(client, world, model, model_admin, role)
    if cell.scoped and model not in world.foreign:
        return [f"no recipe builds a {model._meta.label}: add one to build_world()"], 0
    problems = cell.run()
    return problems, cell.requests
