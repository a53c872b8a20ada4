# Sourced by the other scripts: create .venv and install the project into it when
# pyproject.toml has changed since the last install. Needs only python3 (3.11+).
# SETUP_EXTRAS=test also installs what the tests need.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
EXTRAS=${SETUP_EXTRAS:-}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
hash=$(sha256sum pyproject.toml | cut -c1-16)
stamp=".venv/.installed-$hash-${EXTRAS:-base}"
# A test install includes everything the service needs, so it satisfies a plain one.
if [ ! -f "$stamp" ] && ! { [ -z "$EXTRAS" ] && [ -f ".venv/.installed-$hash-test" ]; }; then
  echo "Setting up .venv (first run, or dependencies changed)..." >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${EXTRAS:+[$EXTRAS]}" >&2
  find .venv -maxdepth 1 -name '.installed-*' ! -name ".installed-$hash-*" -delete
  touch "$stamp"
fi
