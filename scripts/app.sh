#!/usr/bin/env bash
# Set everything up, then start the app on http://localhost:8501 (extra arguments go to streamlit).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec .venv/bin/streamlit run streamlit_app.py "$@"
