#!/usr/bin/env bash
# Start the CRM on a fresh machine with Python 3.11+: installs into .venv, creates the
# SQLite database under instance/ and a first administrator, then serves on
# http://127.0.0.1:5000/. `./start.sh --demo` also loads demo data into an empty database.
# Other arguments go to `crm run` (e.g. --port 8000).
# CRM_ADMIN_EMAIL / CRM_ADMIN_PASSWORD choose the admin; otherwise a password is generated,
# printed once and kept in instance/initial-admin-password (mode 0600).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
export CRM_INSTANCE_PATH=${CRM_INSTANCE_PATH:-$PWD/instance}
mkdir -p "$CRM_INSTANCE_PATH"
email=${CRM_ADMIN_EMAIL:-admin@example.com}
password_file="$CRM_INSTANCE_PATH/initial-admin-password"
if [ -n "${CRM_ADMIN_PASSWORD:-}" ]; then
  password=$CRM_ADMIN_PASSWORD
elif [ -f "$password_file" ]; then
  password=$(cat "$password_file")
else
  password=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))')
  (umask 077 && printf '%s' "$password" > "$password_file")
fi
.venv/bin/crm init --admin-email "$email" --admin-password "$password"
if [ "${1:-}" = "--demo" ]; then
  shift
  .venv/bin/crm demo --if-empty
fi
if [ -f "$password_file" ]; then
  echo "Sign in as $email with the password in $password_file: $password"
fi
exec .venv/bin/crm run "$@"
