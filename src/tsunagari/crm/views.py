"""CRM views (being written)."""
from django.http import HttpResponse


def _todo(request, *a, **k):
    return HttpResponse("todo")


contact_list = _todo
contact_edit = _todo
contact_trash = _todo
contact_detail = _todo
contact_lifecycle = _todo
contact_consent = _todo
contact_merge = _todo
contact_delete = _todo
contact_restore = _todo
account_list = _todo
account_edit = _todo
account_detail = _todo
account_merge = _todo
customfield_list = _todo
customfield_edit = _todo
