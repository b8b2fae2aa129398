#!/usr/bin/env bash
# Property-based check of the control API against its own OpenAPI document, with schemathesis.
#
#   tests/openapi/check.sh ADMIN_BASE_URL [TOKEN]
#
# ADMIN_BASE_URL is the admin port of a running gateway, e.g. http://127.0.0.1:8081; TOKEN (or
# $ROLLGATE_ADMIN_TOKEN) is its admin token, if it has one. The document is the one the gateway
# serves at /api/v1/openapi.json. The run's settings are below; per-operation settings, and the
# exclusions with the server bugs that justify them, are in schemathesis.toml beside this script.
#
# The run changes the gateway's state for real (registers versions, moves traffic, removes
# versions): point it only at a throw-away gateway on a fresh data dir.
#
# Exit status: 0 when every check passed, 1 when schemathesis found a failure, 2 on bad usage,
# 3 when schemathesis is not installed.
set -euo pipefail

base=${1:?usage: tests/openapi/check.sh ADMIN_BASE_URL [TOKEN]}
base=${base%/}
token=${2:-${ROLLGATE_ADMIN_TOKEN:-}}
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}

if ! "$python" -c 'import schemathesis' 2>/dev/null; then
  echo "schemathesis is not installed for $python: pip install -r tests/requirements.txt" >&2
  exit 3
fi

# The checks every response must pass; with a token, also that requests without it get the
# documented 401 (a gateway without a token serves local clients unauthenticated, by design).
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
if [ -n "$token" ]; then
  checks+=,ignored_auth
fi

args=(
  "$base/api/v1/openapi.json"
  --url "$base"
  --checks "$checks"
  --max-examples "${OPENAPI_MAX_EXAMPLES:-30}"
  # Deterministic generation (schemathesis 4's form of --hypothesis-derandomize): the same
  # requests every run. It makes the seed moot; the seed is fixed all the same.
  --seed "${OPENAPI_SEED:-20261122}"
  --generation-deterministic
  --wait-for-schema 10
  --no-color
)
if [ -n "$token" ]; then
  args+=(--header "Authorization: Bearer $token")
fi

# Run in a scratch directory: hypothesis and schemathesis leave state in the working directory.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/rollgate-openapi.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
echo "schemathesis $("$python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))') against $base" >&2
"$python" -m schemathesis.cli --config-file "$here/schemathesis.toml" run "${args[@]}"
