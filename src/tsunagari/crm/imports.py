"""CSV import: placeholder until the import module lands."""


def run_due_imports() -> int:
    return 0
