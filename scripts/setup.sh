#!/usr/bin/env bash
# Make .venv/ and install what the project needs into it; quick when nothing changed.
# Usage: scripts/setup.sh [requirements-file]   (default: requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
requirements="${1:-requirements.txt}"
python="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($python --version)"
  if ! "$python" -m venv .venv 2>/dev/null; then
    # Debian and Ubuntu ship venv without ensurepip unless python3-venv is installed.
    rm -rf .venv
    "$python" -m pip install --user --quiet virtualenv || "$python" -m pip install --user --quiet --break-system-packages virtualenv
    "$python" -m virtualenv --quiet .venv
  fi
fi

# Reinstall only when a requirements file changed since the last successful install.
stamp=".venv/.installed-$(basename "$requirements")"
digest=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  echo "setup: installing $requirements (TensorFlow is large: a few minutes the first time)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r "$requirements"
  echo "$digest" > "$stamp"
fi
