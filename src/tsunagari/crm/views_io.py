"""Import and export views (placeholder until the import module lands)."""

from django.http import HttpResponse


def _todo(request, *args, **kwargs):
    return HttpResponse("not yet", status=501)


contact_export = account_export = import_list = import_detail = import_errors_csv = _todo
