#!/bin/sh
# Waits until the Temporal server is healthy, then creates the namespace pipectl uses (unless it exists) and
# registers pipectl's search attributes on it (registering an existing one changes nothing). Idempotent.
#
# Used by the temporal-namespace service of docker-compose.yml (temporalio/admin-tools image, which carries the
# `temporal` CLI); `pipectl stack up` does the same through the gRPC API (temporal-config/stack.ts).
# TEMPORAL_ADDRESS (host:port), TEMPORAL_NAMESPACE (default: default), TEMPORAL_RETENTION (default: 7d),
# TEMPORAL_CLI (default: temporal on PATH).
set -eu
cli="${TEMPORAL_CLI:-temporal}"
address="${TEMPORAL_ADDRESS:?set TEMPORAL_ADDRESS, e.g. temporal:7233}"
namespace="${TEMPORAL_NAMESPACE:-default}"

# Runs a command until it succeeds, 60 tries 2 s apart: the server comes up, and learns of a new namespace, in steps.
retry() {
  attempt=1
  until "$@"; do
    if [ "$attempt" -ge 60 ]; then
      echo "gave up after 60 tries: $*" >&2
      exit 1
    fi
    attempt=$((attempt + 1))
    sleep 2
  done
}

retry "$cli" operator cluster health --address "$address"

if ! "$cli" operator namespace describe --namespace "$namespace" --address "$address" >/dev/null 2>&1; then
  "$cli" operator namespace create --namespace "$namespace" --retention "${TEMPORAL_RETENTION:-7d}" --address "$address"
fi

# pipectl's search attributes (temporal-config/search-attributes.ts; a unit test keeps this list equal to it).
for attribute in PipelineName:Keyword PipelineGroup:Keyword WindowStart:Datetime RunKind:Keyword WindowEnd:Datetime \
  PipectlScheduleHash:Keyword PipectlPausedPipelines:KeywordList; do
  retry "$cli" operator search-attribute create --namespace "$namespace" --address "$address" \
    --name "${attribute%%:*}" --type "${attribute#*:}"
done
echo "namespace $namespace ready with pipectl's search attributes"
