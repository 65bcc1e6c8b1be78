#!/usr/bin/env bash
# Schemathesis against the real-time service: every check (server errors, answers and status
# codes against /docs.json, schema-violating bodies refused, schema-valid ones accepted), so the
# OpenAPI document keeps saying exactly what the service accepts. Not part of `make test`:
# schemathesis lives in a scratch virtualenv of its own, never in the project's.
#
#   benchmarks/schemathesis.sh                   # trains a demo model, serves it, fuzzes it
#   benchmarks/schemathesis.sh http://HOST:PORT  # a service already running (no token)
#
# EXAMPLES (per operation, default 100), SEED (default 1), ST_VENV (default
# ${TMPDIR:-/tmp}/leadscore-schemathesis), ST_VERSION (default 4.32.5). With no URL: a scratch
# folder gets a 20k-lead demo world, an MLflow store and a BentoML store (~2 min), and the
# service runs on a free port with a bearer token, as in production. Exit code: schemathesis'.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN="$REPO/.venv/bin"
ST_VENV=${ST_VENV:-${TMPDIR:-/tmp}/leadscore-schemathesis}
ST_VERSION=${ST_VERSION:-4.32.5}
EXAMPLES=${EXAMPLES:-100}
SEED=${SEED:-1}

if [ ! -x "$ST_VENV/bin/st" ]; then
    python3.11 -m venv "$ST_VENV"
    "$ST_VENV/bin/pip" install --quiet "schemathesis==$ST_VERSION"
fi

fuzz() {  # $1: base URL; the rest: extra options of `st run`
    local url=$1
    shift
    # from the scratch venv: schemathesis keeps its .schemathesis/ cache in the working folder
    (cd "$ST_VENV" && "$ST_VENV/bin/st" run "$url/docs.json" --checks all \
        --max-examples "$EXAMPLES" --seed "$SEED" --workers 1 --continue-on-failure "$@")
}

if [ $# -ge 1 ]; then
    fuzz "$1"
    exit
fi

SCRATCH=$(mktemp -d)
PORT=$("$BIN/python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
TOKEN=$("$BIN/python" -c "import secrets; print(secrets.token_urlsafe(24))")
export PYTHONPATH="$REPO" BENTOML_DO_NOT_TRACK=true
export MLFLOW_TRACKING_URI="sqlite:///$SCRATCH/mlflow.db" BENTOML_HOME="$SCRATCH/bentoml"
DB="sqlite:///$SCRATCH/leads.db"
SERVER=""
cleanup() {
    if [ -n "$SERVER" ]; then kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" || true; fi
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

echo "demo model in $SCRATCH (~2 min)"
(
    cd "$SCRATCH"
    "$BIN/leadscore" generate --leads 20000 --seed 7 --db "$DB"
    "$BIN/leadscore" train --config "$REPO/configs/demo.yaml" --db "$DB"
    "$BIN/leadscore" promote latest
) > "$SCRATCH/setup.log" 2>&1 || { tail -20 "$SCRATCH/setup.log"; exit 1; }

LEADSCORE_API_TOKEN=$TOKEN "$BIN/leadscore" serve --port "$PORT" > "$SCRATCH/serve.log" 2>&1 &
SERVER=$!
URL="http://127.0.0.1:$PORT"
for _ in $(seq 180); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ]; then break; fi
    kill -0 "$SERVER" 2>/dev/null || { tail -20 "$SCRATCH/serve.log"; exit 1; }
    sleep 1
done
fuzz "$URL" --header "Authorization: Bearer $TOKEN"
