#!/bin/sh
# Stops what scripts/stack-up.sh started: the workers (SIGTERM, SIGKILL after --grace, default 30s), the Temporal
# server, then PostgreSQL. Data and logs stay. Running it again, or with nothing running, does nothing.
set -eu
cd "$(dirname "$0")/.."
exec node bin/pipectl.js stack down "$@"
