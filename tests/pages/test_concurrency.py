"""Two first submissions of one new address at the same moment: one contact, both stored."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from tsunagari.crm.models import Contact
from tsunagari.pages.models import FormSubmission
from tsunagari.pages.presentation import present
from tsunagari.pages.submissions import SubmitContext, form_submit


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_first_submissions_make_one_contact(whitepaper):
    names = {f.target: f.name for f in whitepaper.fields.all()}
    tokens = [present(whitepaper, contact=None, origin="").token for _ in range(4)]
    barrier = threading.Barrier(len(tokens))
    errors: list[BaseException] = []

    def submit(token: str) -> None:
        try:
            barrier.wait()
            data = {
                names["email"]: "same@yamada.co.jp",
                names["company"]: "山田製作所",
                names["family_name"]: "山田",
            }
            result = form_submit(form=whitepaper, data=data, ctx=SubmitContext(token=token))
            assert result.ok, result.errors
        except BaseException as exc:  # reported to the test thread below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert Contact.objects.filter(email="same@yamada.co.jp").count() == 1
    assert FormSubmission.objects.count() == len(tokens)
