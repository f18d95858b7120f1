"""Import and export pages: upload, column mapping, dry-run preview, progress, CSV downloads."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRefresh

from tsunagari.core.access import nav_area, require_capability
from tsunagari.core.roles import Capability
from tsunagari.crm import exports, imports, queries
from tsunagari.crm.models import CustomField, ImportJob
from tsunagari.crm.services import CrmError

# Imports listed on the import page; older ones stay in the database.
HISTORY_ROWS = 50


class UploadForm(forms.Form):
    object_type = forms.ChoiceField(
        label=gettext_lazy("The file holds"),
        choices=[
            (
                CustomField.Object.CONTACT,
                gettext_lazy("Contacts (people), with or without company"),
            ),
            (CustomField.Object.ACCOUNT, gettext_lazy("Accounts (companies)")),
        ],
    )
    file = forms.FileField(label=gettext_lazy("CSV file"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = _(
            "Comma- or tab-separated, in UTF-8 (with or without BOM) or Shift_JIS as Excel "
            "saves it; at most %(limit)s. The first row must hold the column names."
        ) % {"limit": filesizeformat(settings.TSUNAGARI_IMPORT_MAX_BYTES)}

    def clean_file(self) -> UploadedFile:
        upload = self.cleaned_data["file"]
        limit = settings.TSUNAGARI_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                _("The file is %(size)s; an import takes at most %(limit)s. Split it into parts.")
                % {"size": filesizeformat(upload.size), "limit": filesizeformat(limit)}
            )
        return upload


class MappingForm(forms.Form):
    """A select per column, the consent basis for opt-ins, and a touch for every contact row."""

    consent_basis = forms.CharField(
        label=gettext_lazy("Consent basis"),
        required=False,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy(
            "Needed only if the file records opt-ins: how and when these people agreed to "
            "receive email (e.g. “business cards exchanged at Japan IT Week, 2024-10-23; "
            "consent ticked on the form”). It is kept with each consent record."
        ),
    )

    def __init__(self, *args, job: ImportJob, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.job = job
        groups: dict[str, list[tuple[str, str]]] = {}
        names = {
            CustomField.Object.CONTACT: _("Contact"),
            CustomField.Object.ACCOUNT: _("Account (company)"),
            "custom": _("Custom fields"),
        }
        for spec in imports.import_fields(job.object_type).values():
            groups.setdefault(names[spec.group], []).append((spec.key, str(spec.label)))
        choices = [("", _("— do not import —")), *groups.items()]
        for index, header in enumerate(job.headers):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header, choices=choices, required=False
            )
        if job.object_type == CustomField.Object.CONTACT:
            self._add_touch_fields()

    def _add_touch_fields(self) -> None:
        self.fields["touch_type"] = forms.ChoiceField(
            label=_("Kind of touch"),
            choices=[("", _("— none —")), *imports.touch_kinds()],
            required=False,
        )
        self.fields["touch_title"] = forms.CharField(
            label=_("Event name"),
            max_length=imports.TOUCH_TITLE_MAX,
            required=False,
            help_text=_("e.g. “Japan IT Week 2026 autumn”; also kept as the campaign."),
        )
        self.fields["touch_date"] = forms.DateField(
            label=_("Date"),
            required=False,
            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        )

    def clean_touch_date(self) -> date | None:
        day = self.cleaned_data["touch_date"]
        if day is not None and day > timezone.localdate():
            raise forms.ValidationError(_("The date of the touch cannot be in the future."))
        return day

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "touch_type" not in self.fields:
            return data
        if data.get("touch_type"):
            if data.get("touch_date") is None and "touch_date" not in self.errors:
                self.add_error("touch_date", _("Enter the date of the touch."))
        elif data.get("touch_title") or data.get("touch_date"):
            self.add_error(
                "touch_type",
                _("Choose the kind of touch to record, or clear the event name and date."),
            )
        return data

    def touch(self) -> dict[str, str]:
        """The touch to record for every row, as the import keeps it ({} for none)."""
        kind = self.cleaned_data.get("touch_type")
        if not kind:
            return {}
        return {
            "type": kind,
            "title": self.cleaned_data["touch_title"].strip(),
            "date": self.cleaned_data["touch_date"].isoformat(),
        }

    def mapping(self) -> dict[str, str]:
        return {
            header: self.cleaned_data[f"col_{index}"]
            for index, header in enumerate(self.job.headers)
            if self.cleaned_data.get(f"col_{index}")
        }

    def columns(self, samples: list[list[str]]) -> list[tuple[forms.BoundField, list[str]]]:
        """(select, first values) per column, for the mapping table."""
        return [
            (self[f"col_{index}"], [row[index] for row in samples if index < len(row)])
            for index in range(len(self.job.headers))
        ]


def _upload_source(upload: UploadedFile) -> str | bytes:
    # Large uploads are already on disk; small ones are in memory.
    if hasattr(upload, "temporary_file_path"):
        return upload.temporary_file_path()
    return upload.read()


@nav_area("imports")
@require_capability(Capability.CRM_IMPORT)
@require_http_methods(["GET", "POST"])
def import_list(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = imports.import_create(
                path_or_bytes=_upload_source(upload),
                file_name=upload.name,
                object_type=form.cleaned_data["object_type"],
                user=request.user,
            )
        except CrmError as exc:
            form.add_error("file", str(exc))
        else:
            return redirect("crm:import_detail", pk=job.pk)
    jobs = ImportJob.objects.select_related("created_by")[:HISTORY_ROWS]
    context = {"form": form, "jobs": jobs, "touch_kinds": dict(imports.touch_kinds())}
    return render(request, "crm/imports/list.html", context)


@nav_area("imports")
@require_capability(Capability.CRM_IMPORT)
@require_http_methods(["GET", "POST"])
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = queries.get_import_for_user(request.user, pk)
    action = request.POST.get("action", "")
    if request.htmx and request.method == "GET":
        if job.status in imports.ACTIVE_STATUSES:
            return render(request, "crm/imports/partials/progress.html", {"job": job})
        # Finished: the whole page changes (results, errors), so reload it.
        return HttpResponseClientRefresh()
    if request.method == "POST":
        if action in {"cancel", "retry"}:
            return _job_action(request, job, action)
        if job.status != ImportJob.Status.UPLOADED:
            messages.error(request, _("This import has already been started."))
            return redirect("crm:import_detail", pk=job.pk)
        form = MappingForm(request.POST, job=job)
    else:
        initial = {f"col_{i}": job.mapping.get(header, "") for i, header in enumerate(job.headers)}
        initial["consent_basis"] = job.consent_basis
        form = MappingForm(job=job, initial=initial)
    preview = None
    if request.method == "POST" and form.is_valid():
        mapping, basis = form.mapping(), form.cleaned_data["consent_basis"]
        try:
            if action == "start":
                imports.import_start(
                    job=job,
                    mapping=mapping,
                    consent_basis=basis,
                    user=request.user,
                    touch=form.touch(),
                )
                messages.success(request, _("The import is queued and starts in a moment."))
                return redirect("crm:import_detail", pk=job.pk)
            imports.import_set_mapping(job=job, mapping=mapping, consent_basis=basis)
            preview = imports.import_preview(job=job, mapping=mapping, consent_basis=basis)
        except CrmError as exc:
            form.add_error(None, str(exc))
    context = {"job": job, "preview": preview, "touch_kinds": dict(imports.touch_kinds())}
    if job.status == ImportJob.Status.UPLOADED:
        context["form"] = form
        context["columns"] = form.columns(imports.import_sample(job=job))
    else:
        context["errors"] = job.errors[: imports.PREVIEW_ERROR_ROWS]
        context["errors_capped"] = job.skipped_count > len(job.errors)
    return render(request, "crm/imports/detail.html", context)


def _job_action(request: HttpRequest, job: ImportJob, action: str) -> HttpResponse:
    try:
        if action == "cancel":
            imports.import_cancel(job=job, user=request.user)
            messages.success(request, _("The import was cancelled."))
        else:
            imports.import_retry(job=job, user=request.user)
            messages.success(request, _("The import will continue from where it stopped."))
    except CrmError as exc:
        messages.error(request, str(exc))
    return redirect("crm:import_detail", pk=job.pk)


@require_capability(Capability.CRM_IMPORT)
@require_GET
def import_errors_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """The rows in error as they were in the file, with their messages: fix them and re-import."""
    job = queries.get_import_for_user(request.user, pk)
    try:
        errors = imports.import_error_rows(job=job)
    except CrmError as exc:
        messages.error(request, str(exc))
        return redirect("crm:import_detail", pk=job.pk)
    header = [_("Row"), *job.headers, _("Errors")]
    rows = ([number, *cells, " / ".join(problems)] for number, cells, problems in errors)
    encoding = "cp932" if job.encoding == "cp932" else "utf-8"
    return exports.csv_response(header, rows, filename=f"import-{job.pk}-errors", encoding=encoding)


@require_capability(Capability.CRM_EXPORT)
@require_GET
def contact_export(request: HttpRequest) -> HttpResponse:
    """The contact list as filtered on screen, as CSV."""
    contacts = queries.contacts_matching(queries.contact_filter_from(request.GET))
    header, rows = exports.contact_table(contacts)
    encoding = exports.encoding_from(request.GET.get("encoding"))
    return exports.csv_response(header, rows, filename="contacts", encoding=encoding)


@require_capability(Capability.CRM_EXPORT)
@require_GET
def account_export(request: HttpRequest) -> HttpResponse:
    """The account list as filtered on screen, as CSV."""
    accounts = queries.accounts_matching(queries.account_filter_from(request.GET))
    header, rows = exports.account_table(accounts)
    encoding = exports.encoding_from(request.GET.get("encoding"))
    return exports.csv_response(header, rows, filename="accounts", encoding=encoding)
