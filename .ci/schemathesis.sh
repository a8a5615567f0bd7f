#!/usr/bin/env bash
# The API against its own OpenAPI document: schemathesis (from PyPI, pinned below, installed
# into a venv when missing) reads /api/openapi.json of a running `touchbase demo` server and
# calls every operation with generated inputs, once with a token of each role (viewer, analyst,
# owner, executive, admin), each role on a throwaway demo store of its own (the write roles
# change it). It fails on any 5xx, any answer the document does not describe (status code,
# content type, headers, body schema), and a document that is not valid OpenAPI 3.1; it
# prints the operations, test cases and failures of each role and in all. The document itself
# is checked first with openapi-spec-validator (OpenAPI 3.1's own schema).
#
#   .ci/schemathesis.sh                 # builds touchbase (debug) unless TOUCHBASE_BIN is set
#   SCHEMATHESIS_EXAMPLES=50 .ci/schemathesis.sh   # more cases per operation
#
# Needs python3 (3.9 or later) with venv; a missing python3 fails here, naming it.
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
validator_version=0.9.0
examples="${SCHEMATHESIS_EXAMPLES:-12}"
seed="${SCHEMATHESIS_SEED:-17}"
venv="${SCHEMATHESIS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/touchbase/schemathesis-$version}"
roles=(viewer analyst owner executive admin)

python=$(command -v python3 || true)
[ -n "$python" ] || {
  echo "schemathesis: python3 is missing; install it (Debian: apt-get install python3 python3-venv)" >&2
  exit 1
}
if [ ! -x "$venv/bin/schemathesis" ] || [ ! -x "$venv/bin/openapi-spec-validator" ]; then
  echo "schemathesis: installing schemathesis $version into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv" || {
    echo "schemathesis: python3 -m venv failed; install venv (Debian: apt-get install python3-venv)" >&2
    exit 1
  }
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$version" "openapi-spec-validator==$validator_version"
fi

bin="${TOUCHBASE_BIN:-}"
if [ -z "$bin" ]; then
  echo "schemathesis: cargo build -p touchbase"
  cargo build --quiet --locked -p touchbase --bin touchbase
  bin="${CARGO_TARGET_DIR:-target}/debug/touchbase"
fi

work=$(mktemp -d)
server=""
stop_server() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT

# Starts a demo server on a fresh store in $1 (a directory); sets $url and $tokens_file.
start_demo() {
  local dir=$1
  mkdir -p "$dir"
  "$bin" --db "$dir/demo.db" demo --events 2000 --listen 127.0.0.1:0 \
    >"$dir/banner" 2>"$dir/server.log" &
  server=$!
  url=""
  for _ in $(seq 1 600); do
    url=$(sed -n 's|^  dashboard  \(http://[^ ]*\)/$|\1|p' "$dir/banner")
    [ -n "$url" ] && grep -q '^ctrl-c stops the server' "$dir/banner" && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.2
  done
  if [ -z "$url" ] || ! kill -0 "$server" 2>/dev/null; then
    echo "schemathesis: the demo server did not start:" >&2
    cat "$dir/banner" "$dir/server.log" >&2
    exit 1
  fi
}

# The first token the banner shows for role $2 (banner $1).
token_of() {
  awk -v role="$2" '$2 == role && NF == 3 { print $3; exit }' "$1"
}

total_ops=0 total_cases=0 total_failures=0 failed_roles=()
summary=()
for role in "${roles[@]}"; do
  dir="$work/$role"
  start_demo "$dir"
  token=$(token_of "$dir/banner" "$role")
  [ -n "$token" ] || { echo "schemathesis: the demo printed no $role token" >&2; cat "$dir/banner" >&2; exit 1; }
  if [ "$role" = "${roles[0]}" ]; then
    # The document itself, against the OpenAPI 3.1 specification's schema.
    "$venv/bin/python" -c 'import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())' \
      "$url/api/openapi.json" >"$work/openapi.json"
    "$venv/bin/openapi-spec-validator" "$work/openapi.json" || {
      echo "schemathesis: /api/openapi.json is not a valid OpenAPI document" >&2
      exit 1
    }
  fi
  echo "schemathesis: as $role against $url/api/openapi.json"
  status=0
  # From the role's directory: schemathesis keeps its cache in `.schemathesis` there.
  (cd "$dir" && "$venv/bin/schemathesis" --no-color run "$url/api/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$examples" --seed "$seed" --no-shrink \
    --workers 1 --request-timeout 10) \
    >"$dir/out.txt" 2>&1 || status=$?
  stop_server
  # The run's closing counts.
  ops=$(sed -n 's/^  Tested: \([0-9][0-9]*\).*/\1/p' "$dir/out.txt" | tail -n1)
  cases=$(sed -n 's/^  \([0-9][0-9]*\) generated.*/\1/p' "$dir/out.txt" | tail -n1)
  failures=$(sed -n 's/.* \([0-9][0-9]*\) unique failures.*/\1/p' "$dir/out.txt" | tail -n1)
  ops=${ops:-0} cases=${cases:-0} failures=${failures:-0}
  if [ "$status" -ne 0 ] && [ "$failures" -eq 0 ]; then failures="?"; fi
  summary+=("$role: $ops operations, $cases test cases, $failures failures")
  total_ops=$ops
  total_cases=$((total_cases + cases))
  [ "$failures" = "?" ] || total_failures=$((total_failures + failures))
  if [ "$status" -ne 0 ]; then
    failed_roles+=("$role")
    head -n 400 "$dir/out.txt"
    sed -n '/= SUMMARY =/,$p' "$dir/out.txt"
  else
    sed -n '/= SUMMARY =/,$p' "$dir/out.txt"
  fi
done

echo "schemathesis $version, $examples examples per operation, seed $seed:"
printf '  %s\n' "${summary[@]}"
echo "  in all: $total_ops operations × ${#roles[@]} roles, $total_cases test cases, $total_failures failures"
echo "schemathesis: $((total_cases - total_failures)) passed, $total_failures failed"
if [ "${#failed_roles[@]}" -gt 0 ]; then
  echo "schemathesis: failed as ${failed_roles[*]}" >&2
  exit 1
fi
