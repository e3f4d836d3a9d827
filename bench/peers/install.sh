#!/usr/bin/env bash
# Installs the peer orchestrators of the benchmark (Airflow 3, Prefect 3, Dagster) from PyPI, one virtualenv per tool,
# under bench/.peers/<tool>/venv (git-ignored). Idempotent: a tool already installed at its pinned spec is skipped.
#
#   bash bench/peers/install.sh [airflow|prefect|dagster ...]    (no argument: all three)
#
# PYTHON picks the interpreter (default: python3, which must be 3.10–3.12 for all three tools).
#
# Pins. Airflow's own way to install reproducibly is its constraints file
# (constraints-3.x.y/constraints-3.11.txt), which lives on GitHub; GitHub is not reachable from this machine, so the
# Airflow pin is the top-level version with pip's own resolution of the rest. What was resolved is written to
# bench/.peers/<tool>/freeze.txt so a result can be traced to exact versions.
# Prefect is pinned to 3.8.8, not the newest 3.9.x: 3.9.0 and 3.9.1 require certifi>=2026.10.19, which the package
# index reachable here does not serve yet. Its server passes `min_items=` to fastapi.Body(), which FastAPI stopped
# accepting in 0.155.0 (Prefect allows fastapi<1), so FastAPI is pinned to 0.154.0, the last release that accepts it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
peers="$(cd "$here/.." && pwd)/.peers"
python="${PYTHON:-python3}"

spec_of() {
  case "$1" in
    # [postgres]: the provider and driver for a PostgreSQL metadata DB.
    airflow) echo 'apache-airflow[postgres]==3.3.2' ;;
    prefect) echo 'prefect==3.8.8 fastapi==0.154.0' ;;
    # dagster-webserver is not needed to execute, but a persistent instance is what `dagster dev`/the webserver read;
    # dagster-postgres lets the instance use PostgreSQL storage when --pg-url is given.
    dagster) echo 'dagster==1.13.27 dagster-postgres==0.29.27' ;;
    *) echo "unknown tool: $1 (expected airflow, prefect or dagster)" >&2; return 1 ;;
  esac
}

"$python" - <<'PY' || { echo "install.sh: $python must be Python 3.10–3.12 (set PYTHON=...)" >&2; exit 1; }
import sys
sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)
PY

tools=("$@")
[ ${#tools[@]} -eq 0 ] && tools=(airflow prefect dagster)

for tool in "${tools[@]}"; do
  spec="$(spec_of "$tool")"
  dir="$peers/$tool"
  marker="$dir/installed.txt"
  if [ -x "$dir/venv/bin/python" ] && [ -f "$marker" ] && [ "$(cat "$marker")" = "$spec" ]; then
    echo "$tool: already installed ($spec) in $dir/venv — skipped"
    continue
  fi
  echo "$tool: installing $spec into $dir/venv"
  rm -f "$marker"
  mkdir -p "$dir"
  [ -x "$dir/venv/bin/python" ] || "$python" -m venv "$dir/venv"
  "$dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  # shellcheck disable=SC2086 # spec is a list of requirements
  "$dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check $spec >&2
  "$dir/venv/bin/python" -m pip freeze --disable-pip-version-check > "$dir/freeze.txt"
  echo "$spec" > "$marker"
  echo "$tool: installed $spec ($(wc -l < "$dir/freeze.txt") packages, see $dir/freeze.txt)"
done
