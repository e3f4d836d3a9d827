#!/bin/sh
# Creates Temporal's two PostgreSQL databases and sets up, or upgrades, their schema with temporal-sql-tool, using the
# schema files built into the tool. Every step is idempotent, so this runs at every start: on a new database it
# creates everything, on an existing one it applies the upgrades of a newer tool, or nothing.
#
# Used by `pipectl stack up` (temporal-config/stack.ts) and by the temporal-schema service of docker-compose.yml.
# Connection from the tool's own variables: SQL_PLUGIN (postgres12), SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD.
# TEMPORAL_SQL_TOOL: the tool (default: temporal-sql-tool on PATH).
set -eu
tool="${TEMPORAL_SQL_TOOL:-temporal-sql-tool}"
: "${SQL_PLUGIN:?set SQL_PLUGIN (postgres12)}" "${SQL_HOST:?set SQL_HOST}" "${SQL_PORT:?set SQL_PORT}"
: "${SQL_USER:?set SQL_USER}" "${SQL_PASSWORD:?set SQL_PASSWORD}"

for pair in temporal:postgresql/v12/temporal temporal_visibility:postgresql/v12/visibility; do
  database="${pair%%:*}"
  schema="${pair#*:}"
  echo "== ${database} (${schema})"
  "$tool" --database "$database" create-database
  "$tool" --database "$database" setup-schema --version 0.0
  "$tool" --database "$database" update-schema --schema-name "$schema"
done
echo "== Temporal schema ready"
