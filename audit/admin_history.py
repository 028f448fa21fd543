"""The history pages of every admin (mixed into admin_theme's BaseAdmin).

- timeline (`<pk>/history/`): who changed what and when, field by field (old ->
  new, relations by name, JSON by key), filterable by user, field and dates;
- as of (`<pk>/history/as-of/?at=...`): the object as it was at a past moment;
- revert (`<pk>/history/<version>/revert/?mode=change|version`): undo one change
  or restore a whole version, confirmed, through `audit.services.reverts`.

Everything reads through the scoped `get_history_queryset`: a foreign object's
history answers 404 like a missing one. simple-history's own history form stays
read-only (its POST would bypass the revert service).
"""

import datetime as dt

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from unfold.widgets import (
    UnfoldAdminSelectWidget,
    UnfoldAdminSingleDateWidget,
    UnfoldAdminSplitDateTimeWidget,
    UnfoldAdminTextareaWidget,
)

from audit.diffs import Renderer, history_entries, shown_fields
from audit.selectors import (
    history_filtered,
    history_of,
    revert_plan,
    version_as_of,
)
from audit.services.reverts import history_revert
from tenants.models import User

REVERT_PERMISSION = "audit.revert_history"


class HistoryFilterForm(forms.Form):
    actor = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, widget=UnfoldAdminSelectWidget
    )
    field = forms.ChoiceField(required=False, widget=UnfoldAdminSelectWidget)
    since = forms.DateField(
        required=False, label="From", widget=UnfoldAdminSingleDateWidget
    )
    until = forms.DateField(
        required=False, label="Until", widget=UnfoldAdminSingleDateWidget
    )

    def __init__(self, *args, model=None, actors=(), **kwargs):
        """`model`: the model whose fields can be filtered on (none: no field)."""
        super().__init__(*args, **kwargs)
        self.fields["actor"].choices = [("", "Anyone")] + [
            (user.pk, str(user)) for user in actors
        ]
        if model is None:
            del self.fields["field"]
        else:
            self.fields["field"].choices = [("", "Any field")] + [
                (f.attname, str(f.verbose_name).capitalize())
                for f in shown_fields(model)
                if not f.many_to_many
            ]

    def filters(self) -> dict:
        """The selector's keyword arguments (dates as whole days, UTC)."""
        if not self.is_valid():
            return {}
        data = self.cleaned_data

        def start_of(day: dt.date | None):
            if day is None:
                return None
            return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)

        until = data["until"] and data["until"] + dt.timedelta(days=1)
        filters = {
            "actor_id": data["actor"],
            "since": start_of(data["since"]),
            "until": start_of(until),
        }
        if "field" in self.fields:
            filters["field"] = data["field"] or None
        return filters


class AsOfForm(forms.Form):
    at = forms.SplitDateTimeField(
        label="As of (UTC)", widget=UnfoldAdminSplitDateTimeWidget
    )


class RevertForm(forms.Form):
    reason = forms.CharField(
        min_length=3,
        max_length=500,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        help_text="Required. Kept in the history and the audit log.",
    )


class HistoryAdminMixin:
    """Timeline, as-of and revert pages; simple-history's form view read-only."""

    object_history_template = "audit/history/object_history.html"
    history_list_per_page = 50

    def get_urls(self):
        prefix = f"{self.model._meta.app_label}_{self.model._meta.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/history/as-of/",
                wrap(self.history_as_of_view),
                name=f"{prefix}_history_as_of",
            ),
            path(
                "<path:object_id>/history/<int:version_id>/revert/",
                wrap(self.history_revert_view),
                name=f"{prefix}_history_revert",
            ),
            *super().get_urls(),
        ]

    # --- permissions ------------------------------------------------------------------
    def has_revert_permission(self, request, obj=None) -> bool:
        """Reverts are edits: the global revert permission and change permission."""
        return request.user.has_perm(REVERT_PERMISSION) and self.has_change_permission(
            request, obj
        )

    def revert_disabled(self, request, obj=None) -> bool:
        """simple-history's own revert is off: reverts go through our service."""
        return True

    # --- reads ------------------------------------------------------------------------
    def get_history_queryset(self, request, history_manager, pk_name, object_id):
        """History rows of one object, only when the object is in the user's view."""
        return history_of(
            user=request.user, model=self.model, object_id=object_id
        ).select_related("history_user")

    def _history_subject(self, request, object_id):
        """The object (or, deleted, its last version) and its scoped history."""
        object_id = unquote(object_id)
        records = self.get_history_queryset(
            request, self.model.history, self.model._meta.pk.attname, object_id
        )
        obj = self.get_queryset(request).filter(pk=object_id).first()
        if obj is None:
            obj = self.model._base_manager.filter(pk=object_id).first()
            if obj is not None and not records.exists():
                raise Http404  # exists, but not in the user's view
        if obj is None:
            latest = records.order_by("-history_id").first()
            if latest is None:
                raise Http404
            obj = latest.instance
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        return obj, records

    def _history_context(self, request, obj, title: str) -> dict:
        opts = self.model._meta
        prefix = f"admin:{opts.app_label}_{opts.model_name}"
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": opts,
            "object": obj,
            "app_label": opts.app_label,
            "history_url": reverse(f"{prefix}_history", args=[obj.pk]),
            "as_of_url": reverse(f"{prefix}_history_as_of", args=[obj.pk]),
            "revert_url_name": f"{prefix}_history_revert",
            "can_revert": self.has_revert_permission(request, obj),
        }

    def history_view(self, request, object_id, extra_context=None):
        """The timeline: field-level changes, newest first, with filters."""
        obj, records = self._history_subject(request, object_id)
        actors = User.objects.filter(
            pk__in=records.exclude(history_user=None).values("history_user_id")
        ).order_by("email")
        form = HistoryFilterForm(request.GET or None, model=self.model, actors=actors)
        paginator = Paginator(
            history_filtered(records, **form.filters()), self.history_list_per_page
        )
        page = paginator.get_page(request.GET.get("p"))
        context = {
            **self._history_context(request, obj, f"History: {obj}"),
            "filter_form": form,
            "page_obj": page,
            "entries": history_entries(self.model, list(page.object_list)),
            "query": _without(request.GET, "p"),
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.object_history_template, context)

    def history_as_of_view(self, request, object_id):
        """The object as it was at a past moment, next to how it is now."""
        obj, records = self._history_subject(request, object_id)
        form = AsOfForm(request.GET or None)
        at = form.cleaned_data["at"] if form.is_valid() else None
        version = latest = None
        rows = []
        if at is not None:
            version = version_as_of(
                user=request.user, model=self.model, object_id=obj.pk, at=at
            )
            latest = records.order_by("-history_date", "-history_id").first()
        if version is not None:
            renderer = Renderer(self.model, [version, latest])
            rows = [
                (label, then, now, then != now)
                for (_, label, then), (_, _, now) in zip(
                    renderer.snapshot(version), renderer.snapshot(latest), strict=True
                )
            ]
        context = {
            **self._history_context(request, obj, f"{obj} as of a past date"),
            "form": form,
            "at": at,
            "version": version,
            "rows": rows,
        }
        return TemplateResponse(request, "audit/history/as_of.html", context)

    # --- writes -----------------------------------------------------------------------
    def history_revert_view(self, request, object_id, version_id):
        """Revert one change (mode=change) or restore a version (mode=version):
        GET shows what would change, the confirming POST applies it."""
        obj, records = self._history_subject(request, object_id)
        record = records.filter(history_id=version_id).first()
        if record is None:
            raise Http404
        if not self.has_revert_permission(request, obj):
            raise PermissionDenied
        whole = request.GET.get("mode") == "version"
        form = RevertForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                history_revert(
                    actor=request.user,
                    record=record,
                    reason=form.cleaned_data["reason"],
                    whole=whole,
                )
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                when = f"{record.history_date:%Y-%m-%d %H:%M} UTC"
                messages.success(
                    request,
                    f"{obj} restored to its version of {when}."
                    if whole
                    else f"The change of {when} on {obj} was reverted.",
                )
                return redirect(self._history_context(request, obj, "")["history_url"])
        context = {
            **self._history_context(
                request,
                obj,
                f"Restore a version of {obj}" if whole else f"Revert a change of {obj}",
            ),
            "record": record,
            "whole": whole,
            "plan": revert_plan(record=record, whole=whole),
            "form": form,
        }
        return TemplateResponse(request, "audit/history/revert_confirm.html", context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        """simple-history's read-only view of one version: scoped, never a write."""
        if request.method == "POST":
            raise PermissionDenied
        records = history_of(
            user=request.user, model=self.model, object_id=unquote(object_id)
        )
        if not records.filter(history_id=version_id).exists():
            raise Http404
        return super().history_form_view(request, object_id, version_id, extra_context)


def _without(query, key: str) -> str:
    params = query.copy()
    params.pop(key, None)
    return params.urlencode()
