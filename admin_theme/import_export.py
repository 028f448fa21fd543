"""Import and export on every admin whose model has a registered resource.

`ScopedImportExportMixin` builds on django-import-export's admin mixin and Unfold's
forms and templates, and replaces its row-by-row engine and temporary files:

- import: upload -> an `ImportJob` (the file is kept in the database) -> dry-run
  preview with a per-row diff -> confirm -> all-or-nothing import, in the request
  or, for large files, in a django-q2 worker with a live progress bar;
- export: the changelist's rows (its filters, search and the user's scope) in the
  columns the user picks, streamed as CSV, XLSX or JSON, with formula cells
  neutralised and an audit event;
- permissions: `<app>.import_<model>` and `<app>.export_<model>` per model.
"""

import csv
import io

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST
from import_export.admin import ImportExportMixin
from import_export.formats import base_formats
from unfold.contrib.import_export.forms import ImportForm, SelectableFieldsExportForm

from audit import exports
from audit.formulas import escape_formula
from audit.imports import (
    import_job_confirm,
    import_job_create,
    import_job_start,
    max_file_size,
)
from audit.imports.engine import MAX_ERRORS
from audit.imports.selectors import import_job_get, import_jobs_visible_to
from audit.models import ImportJob
from audit.resources import resource_for

FORMATS = {
    base_formats.CSV: "csv",
    base_formats.XLSX: "xlsx",
    base_formats.JSON: "json",
}


class ScopedImportExportMixin(ImportExportMixin):
    # Unfold's forms and templates; our own pages for the job and its preview.
    import_form_class = ImportForm
    export_form_class = SelectableFieldsExportForm
    import_template_name = "admin_theme/import_export/import.html"
    import_job_template_name = "admin_theme/import_export/import_job.html"

    @property
    def import_formats(self):
        return list(FORMATS)

    @property
    def export_formats(self):
        return list(FORMATS)

    def get_resource_classes(self, request):
        """The model's registered resource, or none (no import or export then)."""
        resource = resource_for(self.model)
        return [resource] if resource else []

    def get_resource_kwargs(self, request, *args, **kwargs):
        """Resources work for, and inside the scope of, the requesting user."""
        return {"user": request.user}

    def has_import_permission(self, request) -> bool:
        """Whether the user holds this model's own `import_<model>` permission."""
        return self._has_io_permission(request, "import")

    def has_export_permission(self, request) -> bool:
        """Whether the user holds `export_<model>` and may see the changelist."""
        return self._has_io_permission(
            request, "export"
        ) and self.has_view_or_change_permission(request)

    def _has_io_permission(self, request, action: str) -> bool:
        opts = self.model._meta
        return resource_for(self.model) is not None and request.user.has_perm(
            f"{opts.app_label}.{action}_{opts.model_name}"
        )

    def get_urls(self):
        info = self.get_model_info()
        wrap = self.admin_site.admin_view
        return [
            path(
                "import/<int:job_id>/",
                wrap(self.import_job_view),
                name="{}_{}_import_job".format(*info),
            ),
            path(
                "import/<int:job_id>/progress/",
                wrap(self.import_progress_view),
                name="{}_{}_import_progress".format(*info),
            ),
            path(
                "import/<int:job_id>/errors.csv",
                wrap(self.import_errors_view),
                name="{}_{}_import_errors".format(*info),
            ),
            *super().get_urls(),
        ]

    # --- import --------------------------------------------------------------------
    def import_action(self, request, **kwargs):
        """Upload: record the file as an import job, then preview it (or queue the
        preview of a large file) and show the job."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = self.create_import_form(request)
        if request.method == "POST" and form.is_valid():
            job = self._create_job(request, form)
            if job is not None:
                return redirect(self._job_url("import_job", job))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import {self.model._meta.verbose_name_plural}",
            "form": form,
            "opts": self.model._meta,
            "media": self.media + form.media,
            "fields_list": self._fields_list(request),
            "recent_jobs": self._recent_jobs(request),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, [self.import_template_name], context)

    def _create_job(self, request, form) -> ImportJob | None:
        upload = form.cleaned_data["import_file"]
        if upload.size > max_file_size():
            form.add_error(
                "import_file",
                f"The file is larger than {max_file_size() // 2**20} MB; split it.",
            )
            return None
        file_format = self.get_import_formats()[int(form.cleaned_data["format"])]
        job = import_job_create(
            actor=request.user,
            resource_class=self.choose_import_resource_class(form, request),
            file_name=upload.name,
            payload=b"".join(upload.chunks()),
            file_format=FORMATS[file_format],
        )
        if job.status == ImportJob.Status.FAILED:
            form.add_error("import_file", job.message)
            return None
        import_job_start(job=job)
        return job

    @method_decorator(require_POST)
    def process_import(self, request, **kwargs):
        """Confirm: import a previewed job, all rows or none."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        job = self._job(request, request.POST.get("job"))
        if not import_job_confirm(actor=request.user, job=job):
            messages.warning(request, "This import is not awaiting confirmation.")
        job.refresh_from_db()
        if job.status == ImportJob.Status.SUCCEEDED:
            messages.success(request, job.message)
            return redirect(self._changelist_url())
        return redirect(self._job_url("import_job", job))

    def import_job_view(self, request, job_id: int):
        """The job: progress while it runs, then its preview or its result."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        job = self._job(request, job_id)
        preview = job.preview or {}
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import of {job.file_name}",
            "opts": self.model._meta,
            "job": job,
            "running": job.status
            in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING),
            "headers": preview.get("headers", []),
            "preview_rows": preview.get("rows", []),
            "shown_errors": job.errors[:100],
            "progress_url": self._job_url("import_progress", job),
            "errors_url": self._job_url("import_errors", job),
            "confirm_url": reverse(
                "admin:{}_{}_process_import".format(*self.get_model_info()),
                current_app=self.admin_site.name,
            ),
            "changelist_url": self._changelist_url(),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, [self.import_job_template_name], context)

    def import_progress_view(self, request, job_id: int):
        """Small JSON the job page polls while the job is queued or running."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        job = self._job(request, job_id)
        total = job.total_rows or 1
        return JsonResponse(
            {
                "status": job.status,
                "status_label": job.get_status_display(),
                "stage": job.stage,
                "processed": job.processed_rows,
                "total": job.total_rows,
                "percent": min(100, round(100 * job.processed_rows / total)),
                "finished": job.status
                not in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING),
                "new": job.rows_new,
                "updated": job.rows_updated,
                "unchanged": job.rows_unchanged,
                "errors": job.rows_with_errors,
                "message": job.message,
            }
        )

    def import_errors_view(self, request, job_id: int):
        """The error report as CSV: row, column, reason, value."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        job = self._job(request, job_id)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["row", "column", "message", "value"])
        for error in job.errors:
            writer.writerow(
                [
                    error["row"],
                    escape_formula(error["column"]),
                    escape_formula(error["message"]),
                    escape_formula(error["value"]),
                ]
            )
        if len(job.errors) >= MAX_ERRORS:
            writer.writerow(
                ["", "", f"Only the first {MAX_ERRORS:,} errors are listed.", ""]
            )
        response = HttpResponse(
            "\ufeff" + buffer.getvalue(), content_type=exports.CONTENT_TYPES["csv"]
        )
        name = job.file_name.rsplit(".", 1)[0] or "import"
        response["Content-Disposition"] = f'attachment; filename="{name}-errors.csv"'
        return response

    def _job(self, request, job_id) -> ImportJob:
        try:
            return import_job_get(
                user=request.user,
                job_id=int(job_id),
                model_label=self.model._meta.label_lower,
            )
        except (ImportJob.DoesNotExist, TypeError, ValueError) as error:
            raise Http404 from error

    def _job_url(self, name: str, job: ImportJob) -> str:
        return reverse(
            "admin:{}_{}_{}".format(*self.get_model_info(), name),
            args=[job.pk],
            current_app=self.admin_site.name,
        )

    def _changelist_url(self) -> str:
        return reverse(
            "admin:{}_{}_changelist".format(*self.get_model_info()),
            current_app=self.admin_site.name,
        )

    def _fields_list(self, request):
        resource = self.get_import_resource_classes(request)[0]
        columns = [
            f.column_name
            for f in resource().get_user_visible_fields()
            if not f.readonly
        ]
        return [(resource.get_display_name(), columns)]

    def _recent_jobs(self, request):
        return import_jobs_visible_to(request.user).filter(
            model=self.model._meta.label_lower
        )[:5]

    # --- export --------------------------------------------------------------------
    def export_action(self, request):
        """The export form; on submit, the changelist's rows in the chosen columns."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        formats = self.get_export_formats()
        form = self.get_export_form_class()(
            formats,
            self.get_export_resource_classes(request),
            data=request.POST or None,
        )
        if request.method == "POST" and form.is_valid():
            return self._export(
                request,
                file_format=FORMATS[formats[int(form.cleaned_data["format"])]],
                resource_class=self.choose_export_resource_class(form, request),
                selected=self.get_export_resource_fields_from_form(form),
            )
        context = self.init_request_context_data(request, form)
        request.current_app = self.admin_site.name
        return TemplateResponse(request, [self.export_template_name], context)

    def _export(self, request, *, file_format, resource_class, selected):
        resource = resource_class(**self.get_export_resource_kwargs(request))
        columns = exports.export_columns(resource, selected)
        queryset = self.get_export_queryset(request)  # scoped, filtered, searched
        rows = exports.export_rows(
            queryset, columns, json_as_text=file_format != "json"
        )
        filters = {
            key: values[0] if len(values) == 1 else values
            for key, values in request.GET.lists()
        }

        def record(count: int, complete: bool = True) -> None:
            exports.export_record(
                actor=request.user,
                model_label=self.model._meta.label_lower,
                file_format=file_format,
                columns=columns,
                filters=filters,
                rows=count,
                complete=complete,
            )

        stamp = timezone.now().strftime("%Y-%m-%d")
        filename = f"{self.model._meta.model_name}-{stamp}.{file_format}"
        content_type = exports.CONTENT_TYPES[file_format]
        if file_format == "xlsx":
            output, count = exports.xlsx_file(rows, columns)
            record(count)
            return FileResponse(
                output, as_attachment=True, filename=filename, content_type=content_type
            )
        writer = exports.csv_chunks if file_format == "csv" else exports.json_chunks
        response = StreamingHttpResponse(
            exports.streamed(writer, rows, columns, on_end=record),
            content_type=content_type,
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
