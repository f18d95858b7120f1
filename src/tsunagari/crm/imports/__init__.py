"""CSV import of contacts and accounts: read, map columns, dry-run, then upsert in batches.

An ImportJob is uploaded (file kept, encoding and delimiter detected, rows counted), mapped and
previewed without writing anything, then started and run by the worker batch by batch. Each
batch is one transaction that also advances job.rows_done, so a crash loses only the batch in
flight, and a retry resumes after the last committed row without writing any row twice.

The modules, in the order a row goes through them: reading (the file), fields (what a column
can be mapped to), cleaning (a row's values and errors), accounts and writing (planning and
storing a batch, through tables), services (the use cases) and running (the worker). hooks is
where the apps above crm add to an import, since crm may not import them.
"""

from tsunagari.crm.imports.fields import (
    ImportField,
    header_signature,
    import_fields,
    suggest_mapping,
)
from tsunagari.crm.imports.hooks import register_after_batch, register_touch_kinds, touch_kinds
from tsunagari.crm.imports.reading import ImportFileError, import_sample
from tsunagari.crm.imports.running import import_claim, import_run, run_due_imports
from tsunagari.crm.imports.services import (
    ACTIVE_STATUSES,
    PREVIEW_ERROR_ROWS,
    TOUCH_TITLE_MAX,
    Preview,
    PreviewRow,
    import_cancel,
    import_create,
    import_error_rows,
    import_preview,
    import_retry,
    import_set_mapping,
    import_start,
)

__all__ = [
    "ACTIVE_STATUSES",
    "PREVIEW_ERROR_ROWS",
    "TOUCH_TITLE_MAX",
    "ImportField",
    "ImportFileError",
    "Preview",
    "PreviewRow",
    "header_signature",
    "import_cancel",
    "import_claim",
    "import_create",
    "import_error_rows",
    "import_fields",
    "import_preview",
    "import_retry",
    "import_run",
    "import_sample",
    "import_set_mapping",
    "import_start",
    "register_after_batch",
    "register_touch_kinds",
    "run_due_imports",
    "suggest_mapping",
    "touch_kinds",
]
