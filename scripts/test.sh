#!/usr/bin/env bash
# The test legs behind `make test` (docs/testing.md):
#   1. SQLite   — the whole suite, browser tests included, on a real SQLite file in var/test-sqlite
#   2. PostgreSQL — the whole suite but the browser tests, with DATABASE_URL=postgres://…
# Usage: scripts/test.sh [all|sqlite|postgres|e2e] [extra pytest arguments…]
# With CI=true a leg that cannot run (PostgreSQL or Chromium missing) is a failure, never a skip.
set -uo pipefail
cd "$(dirname "$0")/.."

LEG="${1:-all}"
[[ $# -gt 0 ]] && shift
case "$LEG" in all | sqlite | postgres | e2e) ;; *)
    echo "usage: scripts/test.sh [all|sqlite|postgres|e2e] [pytest arguments…]" >&2
    exit 2
    ;;
esac

VENV="${VENV:-.venv}"
PYTEST="$VENV/bin/pytest"
PYTHON="$VENV/bin/python"
POSTGRES_URL="${TSUNAGARI_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/tsunagari}"
SHOWN_URL="$(sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#' <<<"$POSTGRES_URL")" # no password in logs
WORKERS="${PYTEST_WORKERS:-2}"
RESULTS=var/test-results
CI_MODE=false
case "${CI:-}" in 1 | true | TRUE | True | yes | on) CI_MODE=true ;; esac

if [[ ! -x "$PYTEST" ]]; then
    echo "test.sh: $PYTEST not found; run \`make test\`, or: python3 -m venv $VENV && $VENV/bin/pip install -e '.[dev]'" >&2
    exit 2
fi

xdist=()
# loadgroup: tests marked xdist_group("…") share one worker (shared bench data sets).
[[ "$WORKERS" != "0" ]] && xdist=(-n "$WORKERS" --dist loadgroup)

declare -a SUMMARY=() REPORTS=()
FAILED=0
RUN_STARTED=$SECONDS
mkdir -p "$RESULTS"

# run_leg NAME DATA_DIR DATABASE_URL pytest-arguments…   (empty DATABASE_URL: the SQLite file)
run_leg() {
    local name="$1" data_dir="$2" db_url="$3"
    shift 3
    local started=$SECONDS status
    rm -rf "$data_dir" "$RESULTS/$name.xml"
    mkdir -p "$data_dir"
    echo
    local shown="(unset: the SQLite file)"
    [[ -n "$db_url" ]] && shown="$SHOWN_URL"
    echo "==> leg $name: TSUNAGARI_DATA_DIR=$data_dir DATABASE_URL=$shown"
    printf '    %s' "$PYTEST"
    printf ' %q' "${xdist[@]}" "$@"
    echo
    if [[ -n "$db_url" ]]; then
        env TSUNAGARI_TEST_LEG="${name%%-*}" TSUNAGARI_DATA_DIR="$PWD/$data_dir" \
            DATABASE_URL="$db_url" "$PYTEST" "${xdist[@]}" --junitxml="$RESULTS/$name.xml" "$@"
    else
        env -u DATABASE_URL TSUNAGARI_TEST_LEG="${name%%-*}" TSUNAGARI_DATA_DIR="$PWD/$data_dir" \
            "$PYTEST" "${xdist[@]}" --junitxml="$RESULTS/$name.xml" "$@"
    fi
    status=$?
    [[ -f "$RESULTS/$name.xml" ]] && REPORTS+=("$RESULTS/$name.xml")
    local took=$((SECONDS - started))
    if [[ $status -eq 0 ]]; then
        SUMMARY+=("leg $name: passed in ${took}s")
    else
        SUMMARY+=("leg $name: FAILED (pytest exit $status) in ${took}s")
        FAILED=1
    fi
}

postgres_problem() {
    # Prints why PostgreSQL cannot be used, or nothing when it can; pytest-django connects to
    # the server's `postgres` database to create test_<name>, so that is what is tried here.
    "$PYTHON" - "$POSTGRES_URL" <<'PY'
import sys

import dj_database_url
import psycopg

db = dj_database_url.parse(sys.argv[1])
try:
    psycopg.connect(
        dbname="postgres", user=db["USER"] or None, password=db["PASSWORD"] or None,
        host=db["HOST"] or None, port=db["PORT"] or None, connect_timeout=5,
    ).close()
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}".strip())
PY
}

postgres_leg() {
    local problem
    problem="$(postgres_problem 2>&1)"
    if [[ -z "$problem" ]]; then
        # One process: the benchmark tests create and drop data sets by name on the shared
        # server, and two xdist workers doing so at once trip over each other.
        run_leg postgres var/test-postgres "$POSTGRES_URL" -m "not e2e" -n 0 "$@"
    elif [[ "$CI_MODE" == true ]]; then
        echo >&2
        echo "ERROR: PostgreSQL is not reachable at $SHOWN_URL — CI=true requires the PostgreSQL leg." >&2
        echo "       $problem" >&2
        echo "       .ci/run starts the server; set TSUNAGARI_TEST_POSTGRES_URL to use another one." >&2
        SUMMARY+=("leg postgres: FAILED (server not reachable)")
        FAILED=1
    else
        echo >&2
        echo "################################################################################" >&2
        echo "WARNING: PostgreSQL is not reachable at $SHOWN_URL" >&2
        echo "         $problem" >&2
        echo "WARNING: the PostgreSQL leg is SKIPPED; CI runs it and will fail where it fails." >&2
        echo "################################################################################" >&2
        SUMMARY+=("leg postgres: SKIPPED (server not reachable)")
    fi
}

case "$LEG" in
all)
    run_leg sqlite var/test-sqlite "" "$@"
    postgres_leg "$@"
    ;;
sqlite) run_leg sqlite var/test-sqlite "" "$@" ;;
postgres) postgres_leg "$@" ;;
e2e) run_leg sqlite-e2e var/test-sqlite "" -m e2e "$@" ;;
esac

echo
echo "==> summary ($((SECONDS - RUN_STARTED))s in all)"
printf '    %s\n' "${SUMMARY[@]}"
# One closing line over all legs, from the legs' JUnit reports.
"$PYTHON" - "${REPORTS[@]}" <<'PY'
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
for report in sys.argv[1:]:
    for suite in ET.parse(report).getroot().iter("testsuite"):
        tests, skips = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
        bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        passed += tests - bad - skips
        failed += bad
        skipped += skips
print(f"total: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit $FAILED
