"""Forms of the task actions: pickers limited to the selected tasks' organizations."""

from django import forms
from unfold.widgets import (
    UnfoldAdminSelectWidget,
    UnfoldAdminSingleDateWidget,
)

from tenants.models import User
from work.models import Project, Task


def _organization_ids(tasks) -> set[int]:
    return set(tasks.values_list("organization_id", flat=True).distinct())


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=User.objects.none(),
        widget=UnfoldAdminSelectWidget,
        help_text="Members of the selected tasks' organization.",
    )

    def __init__(self, *args, tasks, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = (
            User.objects.filter(
                is_active=True,
                memberships__organization_id__in=_organization_ids(tasks),
            )
            .distinct()
            .order_by("email")
        )


class StatusForm(forms.Form):
    status = forms.ChoiceField(
        choices=Task.Status.choices, widget=UnfoldAdminSelectWidget
    )


class DueDateForm(forms.Form):
    due_date = forms.DateField(
        required=False,
        widget=UnfoldAdminSingleDateWidget,
        help_text="Leave empty to clear the due date.",
    )


class MoveForm(forms.Form):
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(), widget=UnfoldAdminSelectWidget
    )

    def __init__(self, *args, tasks, projects, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects.filter(
            organization_id__in=_organization_ids(tasks)
        ).order_by("organization_id", "key")
