#!/usr/bin/env bash
# Run every check and test on a fresh machine: installs into .venv-test (with the test
# plugins of tests/plugin_dist), lints, checks the import rules, runs pytest on SQLite,
# then again on PostgreSQL and Redis when they are reachable. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
[ -x .venv-test/bin/python ] || "$PYTHON" -m venv .venv-test
.venv-test/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]' -e tests/plugin_dist
.venv-test/bin/ruff check core plugins tests bench
.venv-test/bin/lint-imports --no-cache
.venv-test/bin/python -m pytest "$@"

pg_url=${CRM_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test}
redis_url=${CRM_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
if .venv-test/bin/python - "$pg_url" <<'PY'
import sys, sqlalchemy as sa
url = sys.argv[1].replace("postgresql://", "postgresql+psycopg://", 1)
try:
    sa.create_engine(url, connect_args={"connect_timeout": 2}).connect().close()
except Exception as exc:
    print(f"PostgreSQL at {sys.argv[1]} is not reachable ({exc}); its run is skipped.")
    sys.exit(1)
PY
then
  echo "== again on PostgreSQL ($pg_url) with Redis ($redis_url) =="
  CRM_TEST_DATABASE_URL=$pg_url CRM_TEST_REDIS_URL=$redis_url \
    .venv-test/bin/python -m pytest -m "not browser" "$@"
fi
