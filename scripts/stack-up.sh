#!/bin/sh
# Starts pipectl's production topology from plain processes (no Docker): PostgreSQL, the Temporal server (built once
# from its Go module), and N pipectl workers, with data, logs and pid files in .pipectl/stack.
# Options go to `pipectl stack up`: --workers N, --port P (Temporal), --postgres-port P, --dir <pipelines>,
# --state-dir <folder>. Running it again starts only what is not running, or scales the workers.
set -eu
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm install --no-audit --no-fund
npm run build --silent
exec node bin/pipectl.js stack up "$@"
