#!/usr/bin/env bash
# Long schemathesis run against `rag serve` on loopback, every check on: the bounded version of
# this runs in `make test` (tests/service/test_contract.py). Prints schemathesis's summary; the
# "generated" line is the number of cases, "passed" or the failures below it the outcome.
#
#   eval/fuzz.sh [EXAMPLES_PER_OPERATION] [INDEX_DIR]    (defaults: 3000, index)
#
# With RAG_API_KEY set, the server requires it and schemathesis sends it.
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-3000}"
index="${2:-index}"
bin=.venv/bin
port=$("$bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
"$bin/rag" serve --host 127.0.0.1 --port "$port" --workers 2 --index "$index" >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 0.5
done
headers=()
if [[ -n "${RAG_API_KEY:-}" ]]; then headers=(--header "X-API-Key: $RAG_API_KEY"); fi
started=$(date +%s)
# One worker: CPython 3.11's parser is not thread-safe under two (tests/service/test_contract.py).
"$bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" --checks all \
    --max-examples "$examples" --workers 1 --no-color "${headers[@]}" | tail -n 25
echo "took $(( $(date +%s) - started )) s"
