"""Import/export resources of projects and tasks.

A project is named by its key within its organization; a task by its id within
its project (a blank id is a new task). Organizations, projects and people are
resolved inside the importing user's scope.
"""

from import_export import fields

from audit.resources import NaturalKeyWidget, ScopedModelResource, register
from tenants.resources import organization_field, user_field
from work.models import Project, Task


@register
class ProjectResource(ScopedModelResource):
    organization = organization_field()
    owner = user_field("owner")

    class Meta:
        model = Project
        fields = ("organization", "key", "name", "description", "status", "owner")
        export_order = fields
        import_id_fields = ("organization", "key")


@register
class TaskResource(ScopedModelResource):
    organization = organization_field()
    project = fields.Field(
        attribute="project",
        column_name="project",
        widget=NaturalKeyWidget(Project, "key", per_organization=True),
    )
    assignee = user_field("assignee")
    reporter = user_field("reporter")

    class Meta:
        model = Task
        fields = (
            "organization",
            "project",
            "id",
            "title",
            "description",
            "status",
            "priority",
            "assignee",
            "reporter",
            "due_date",
            "completed_at",
            "custom_fields",
        )
        export_order = fields
        import_id_fields = ("organization", "project", "id")
