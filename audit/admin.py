import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    RangeDateTimeFilter,
)
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminSelectWidget

from admin_theme.admin import ScopedAdminMixin
from admin_theme.filters import ScopedAutocompleteFilter
from audit import (
    admin_imports,  # noqa: F401  (registers the import job admin)
    exports,
)
from audit.admin_history import REVERT_PERMISSION, HistoryFilterForm, RevertForm
from audit.models import AuditEvent
from audit.selectors import (
    history_table_sizes,
    operation_entries,
    operation_plan,
    operation_problems,
    operation_visible_to,
    organization_change_models,
    organization_changes,
)
from audit.services.reverts import operation_undo
from tenants.models import User
from tenants.selectors import organizations_visible_to

CHANGES_PER_PAGE = 50
OPERATION_ROWS_SHOWN = 50


def _admin_url(content_type, object_id) -> str | None:
    try:
        return reverse(
            f"admin:{content_type.app_label}_{content_type.model}_change",
            args=[object_id],
        )
    except NoReverseMatch:
        return None


class OrganizationChangesForm(HistoryFilterForm):
    """The history filters, plus which model (of those the user may read)."""

    model = forms.ChoiceField(required=False, widget=UnfoldAdminSelectWidget)

    def __init__(self, *args, models, **kwargs):
        super().__init__(*args, **kwargs)
        self.models = {m._meta.label_lower: m for m in models}
        self.fields["model"].choices = [("", "Every model")] + [
            (label, m._meta.verbose_name_plural.capitalize())
            for label, m in self.models.items()
        ]
        self.order_fields(["model", "actor", "since", "until"])

    def filters(self) -> dict:
        filters = super().filters()
        if self.is_valid():
            filters["model"] = self.models.get(self.cleaned_data["model"])
        return filters


@admin.register(AuditEvent)
class AuditEventAdmin(ScopedAdminMixin, ModelAdmin):
    """Read-only for everyone, platform admins included: append-only.

    Also home to the pages that read history across models: an operation (and
    its undo), an organization's recent changes, the size of the history tables.
    """

    list_display = (
        "created_at",
        "actor_label",
        "action",
        "display_target",
        "organization",
        "ip_address",
    )
    list_select_related = ("organization", "target_content_type")
    list_filter = (
        ("action", ChoicesDropdownFilter),
        ("actor", ScopedAutocompleteFilter),
        ("organization", ScopedAutocompleteFilter),
        ("created_at", RangeDateTimeFilter),
    )
    list_filter_submit = True
    search_fields = ("actor_label", "target_repr")
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    readonly_fields = [
        *(f.name for f in AuditEvent._meta.fields if f.name != "id"),
        "display_target",
        "display_operation",
    ]
    actions = ["export_csv"]
    actions_list = ["history_sizes"]

    # --- read-only --------------------------------------------------------------------
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_history_sizes_permission(self, request) -> bool:
        """History table sizes are for platform admins."""
        return request.user.is_superuser

    # --- columns ----------------------------------------------------------------------
    @display(description="Target")
    def display_target(self, obj):
        """The target's admin page (when it has one), else its description."""
        if obj.target_content_type_id is None:
            return obj.target_repr or "—"
        url = _admin_url(obj.target_content_type, obj.target_object_id)
        if url is None:
            return obj.target_repr
        return format_html(
            '<a class="text-primary-600" href="{}">{}</a>', url, obj.target_repr or url
        )

    @display(description="Operation")
    def display_operation(self, obj):
        """The history rows the event's operation wrote, and its undo."""
        operation_id = (obj.changed_fields or {}).get("operation_id")
        if not operation_id:
            return "—"
        return format_html(
            '<a class="text-primary-600" href="{}">{}</a>',
            reverse("admin:audit_auditevent_operation", args=[operation_id]),
            operation_id,
        )

    # --- pages ------------------------------------------------------------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "operations/<uuid:operation_id>/",
                wrap(self.operation_view),
                name="audit_auditevent_operation",
            ),
            path(
                "organizations/<int:organization_id>/changes/",
                wrap(self.organization_changes_view),
                name="audit_auditevent_organization_changes",
            ),
            *super().get_urls(),
        ]

    def _context(self, request, title: str) -> dict:
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
        }

    def operation_view(self, request, operation_id):
        """Every row an operation wrote (what an undo would change) and, for those
        allowed to revert, the confirmed undo."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        plan = operation_plan(operation_id=operation_id)
        if not plan.items or not operation_visible_to(
            user=request.user, operation_id=operation_id
        ):
            raise Http404
        models = list(plan.by_model())
        if not all(_may(request.user, "view", m) for m in models):
            raise PermissionDenied
        can_undo = request.user.has_perm(REVERT_PERMISSION) and all(
            _may(request.user, "change", m) for m in models
        )
        form = RevertForm(request.POST or None)
        if request.method == "POST":
            if not can_undo:
                raise PermissionDenied
            if form.is_valid():
                try:
                    result = operation_undo(
                        actor=request.user,
                        operation_id=operation_id,
                        reason=form.cleaned_data["reason"],
                    )
                except ValidationError as error:
                    messages.error(request, " ".join(error.messages))
                else:
                    messages.success(
                        request,
                        f"Operation undone: {result['restored']} row(s) restored, "
                        f"{result['deleted']} deleted.",
                    )
                    return redirect(
                        "admin:audit_auditevent_operation", result["operation_id"]
                    )
        context = {
            **self._context(request, f"Operation {operation_id}"),
            "plan": plan,
            "problems": operation_problems(plan),
            "entries": [
                (model._meta, item, last, changes)
                for model, item, last, changes in operation_entries(
                    plan, limit=OPERATION_ROWS_SHOWN
                )
            ],
            "events": AuditEvent.objects.filter(
                changed_fields__operation_id=str(operation_id)
            )[:5],
            "can_undo": can_undo,
            "form": form,
        }
        return TemplateResponse(request, "audit/history/operation.html", context)

    def organization_changes_view(self, request, organization_id):
        """Recent changes across the models of one organization, newest first."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        organization = (
            organizations_visible_to(request.user).filter(pk=organization_id).first()
        )
        if organization is None:
            raise Http404
        models = organization_change_models(user=request.user)
        actors = User.objects.filter(pk__in=_organization_actor_ids(organization))
        form = OrganizationChangesForm(
            request.GET or None, models=models, actors=actors.order_by("email")
        )
        page = max(_int(request.GET.get("page"), 1), 1)
        rows = organization_changes(
            user=request.user,
            organization=organization,
            offset=(page - 1) * CHANGES_PER_PAGE,
            limit=CHANGES_PER_PAGE + 1,
            **form.filters(),
        )
        query = request.GET.copy()
        query.pop("page", None)
        context = {
            **self._context(request, f"Recent changes: {organization}"),
            "organization": organization,
            "form": form,
            "rows": [(m, m._meta, e) for m, e in rows[:CHANGES_PER_PAGE]],
            "page": page,
            "has_next": len(rows) > CHANGES_PER_PAGE,
            "query": query.urlencode(),
        }
        return TemplateResponse(
            request, "audit/history/organization_changes.html", context
        )

    @action(
        description="History table sizes",
        icon="database",
        permissions=["history_sizes"],
    )
    def history_sizes(self, request):
        """Disk size and rows of every history table, with its retention."""
        context = {
            **self._context(request, "History tables"),
            "sizes": history_table_sizes(),
        }
        return TemplateResponse(request, "audit/history/sizes.html", context)

    # --- export -----------------------------------------------------------------------
    @admin.action(description="Export selected as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        """The selected events (all matching, with "select all") as a streamed CSV;
        the export itself is an audit event, with its row count once sent."""
        fields = {f.attname: f for f in AuditEvent._meta.concrete_fields}
        columns = [
            exports.ExportColumn(name, path_, fields.get(path_, _TEXT))
            for name, path_ in EXPORT_COLUMNS
        ]
        rows = exports.export_rows(
            queryset.order_by("-created_at", "-id"), columns, json_as_text=True
        )
        filters = {k: v for k, v in request.GET.items() if k != "p"}

        def recorded(count: int, complete: bool) -> None:
            exports.export_record(
                actor=request.user,
                model_label=AuditEvent._meta.label_lower,
                file_format="csv",
                columns=columns,
                filters=filters,
                rows=count,
                complete=complete,
            )

        response = StreamingHttpResponse(
            exports.streamed(exports.csv_chunks, rows, columns, on_end=recorded),
            content_type=exports.CONTENT_TYPES["csv"],
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = (
            f'attachment; filename="audit-events-{stamp}.csv"'
        )
        return response


# (header, values_list path); a path that is not a column is formatted as text.
EXPORT_COLUMNS = [
    ("created_at", "created_at"),
    ("actor", "actor_label"),
    ("actor_id", "actor_id"),
    ("action", "action"),
    ("organization", "organization__name"),
    ("organization_id", "organization_id"),
    ("target_type", "target_content_type__model"),
    ("target_id", "target_object_id"),
    ("target", "target_repr"),
    ("changes", "changed_fields"),
    ("ip_address", "ip_address"),
    ("user_agent", "user_agent"),
]
_TEXT = models.TextField()


def _may(user, action_name: str, model) -> bool:
    opts = model._meta
    return user.has_perm(
        f"{opts.app_label}.{get_permission_codename(action_name, opts)}"
    )


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _organization_actor_ids(organization):
    """Who appears in the organization's audit events of the last 90 days (the
    actor filter's choices), served by the (organization, created_at) index."""
    since = timezone.now() - dt.timedelta(days=90)
    return (
        AuditEvent.objects.filter(organization=organization, created_at__gte=since)
        .exclude(actor=None)
        .values("actor_id")
        .distinct()
    )
