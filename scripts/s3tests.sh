#!/usr/bin/env bash
# s3tests.sh - run the ceph/s3-tests compatibility suite against a fresh Pails
# server, end to end, with one command.
#
# Usage:
#   scripts/s3tests.sh [TEST ...] [run_s3tests.py options ...]
#   scripts/s3tests.sh --setup-only          # only prepare $S3T_HOME, then exit
#   scripts/s3tests.sh -h | --help
#
#   Leading TEST arguments (before the first option) select tests:
#     test_bucket_list_empty                     a bare test function name (its file is looked up)
#     s3tests/functional/test_headers.py         a file / dir / nodeid relative to the suite tree
#   Everything else is passed to ../shared/tools/s3tests/run_s3tests.py, after this
#   script's defaults (so a later -n / --test-timeout / --timeout wins), e.g.
#     scripts/s3tests.sh -k 'bucket_list or listv2'
#     scripts/s3tests.sh test_bucket_list_empty test_bucket_listv2_empty -n 0
#     scripts/s3tests.sh --only-failed-from /tmp/s3t-run/results.jsonl
#     OUT=/tmp/s3t-acl scripts/s3tests.sh -k 'acl or grant'
#     scripts/s3tests.sh --set 's3 main.api_name=us-east-1'   # test_bucket_get_location
#
# Environment (all optional):
#   S3T_HOME        suite home: s3-tests clone + venv          (default $HOME/.cache/s3tests)
#   S3T_MIRROR      git dir to clone s3-tests from if the clone is missing
#                   (default /work/.mirror/ceph+s3-tests/repo, made by the agent `fetch` tool)
#   S3T_PIN         suite commit to check out        (default 8f0ae7b404a3a2fcf7038bf1e6bf29544fe9b6a3)
#   S3T_RUNNER      run_s3tests.py                   (default <repo>/../shared/tools/s3tests/run_s3tests.py)
#   PY              python that runs Pails           (default <repo>/.venv/bin/python)
#   PORT            Pails port on 127.0.0.1          (default 9100)
#   OUT             output directory                 (default /tmp/s3t-run)
#   WORKERS         pytest-xdist workers             (default 2)
#   EXCLUDE_MARKERS marker list to leave out         (default infra; set empty to run everything)
#   START_TIMEOUT   seconds to wait for the port     (default 30)
#   KEEP_DATA=1     keep the temp data dir after the run (path is printed)
#   CLUSTER=N       run against N gateways on a throw-away PostgreSQL database behind the
#                   load balancer of scripts/cluster.py (HAProxy), instead of one SQLite server
#   PG_URL          PostgreSQL server for CLUSTER  (default postgresql://postgres@127.0.0.1:5432)
#   PAILS_ROOT_ACCESS_KEY / PAILS_ROOT_SECRET_KEY   root keys (default: random per run)
#   S3T_AWS_DATA_PATH  botocore data dir the suite's client loads (default scripts/s3tests-models: the
#                   bucket logging extensions s3-tests exercises: post_bucket_logging, LoggingType, ...; it
#                   replaces botocore's own S3 extras, so it repeats them: Expires is a timestamp);
#                   set empty for plain boto3
#   PAILS_LIFECYCLE_DAY_SECONDS  a lifecycle "day" for the server and the suite's
#                   lc_debug_interval (default 10, as the suite assumes)
#
# Exit status: that of run_s3tests.py (0 = run finished, whatever the test
# results; 2 = usage/preflight error; 3 = overall timeout), 2 if the suite is
# not set up, 1 if the Pails server or user creation failed.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)

S3T_HOME=${S3T_HOME:-$HOME/.cache/s3tests}
S3T_MIRROR=${S3T_MIRROR:-/work/.mirror/ceph+s3-tests/repo}
S3T_PIN=${S3T_PIN:-8f0ae7b404a3a2fcf7038bf1e6bf29544fe9b6a3}
S3T_RUNNER=${S3T_RUNNER:-$REPO/../shared/tools/s3tests/run_s3tests.py}
PY=${PY:-$REPO/.venv/bin/python}
PORT=${PORT:-9100}
OUT=${OUT:-/tmp/s3t-run}
WORKERS=${WORKERS:-2}
EXCLUDE_MARKERS=${EXCLUDE_MARKERS-infra}
START_TIMEOUT=${START_TIMEOUT:-30}
KEEP_DATA=${KEEP_DATA:-0}
CLUSTER=${CLUSTER:-0}
PG_URL=${PG_URL:-postgresql://postgres@127.0.0.1:5432}

SUITE=$S3T_HOME/s3-tests
VENV=$S3T_HOME/venv
SPY=$VENV/bin/python

log() { printf '[s3tests.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { local code=$1; shift; printf 's3tests.sh: error: %s\n' "$*" >&2; exit "$code"; }

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

# ---------------------------------------------------------------- arguments
SETUP_ONLY=0
TESTS=()
PASS=()
while (($#)); do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --setup-only) SETUP_ONLY=1; shift ;;
        -*) PASS=("$@"); break ;;
        *) TESTS+=("$1"); shift ;;
    esac
done

# ---------------------------------------------------------------- one-time setup
suite_ready() {
    [[ -d $SUITE/.git ]] || return 1
    [[ $(git -C "$SUITE" rev-parse HEAD 2>/dev/null) == "$S3T_PIN" ]] || return 1
    [[ -x $SPY ]] || return 1
    "$SPY" -c 'import pytest, boto3, munch, isodate, lxml, pytz, requests, dateutil, xdist' \
        >/dev/null 2>&1
}

setup_suite() {
    mkdir -p "$S3T_HOME"
    if [[ ! -d $SUITE/.git ]]; then
        if git --git-dir="$S3T_MIRROR" rev-parse --git-dir >/dev/null 2>&1; then
            log "cloning s3-tests from $S3T_MIRROR into $SUITE"
            git clone -q "$S3T_MIRROR" "$SUITE"
        else
            cat >&2 <<EOF
s3tests.sh: the ceph/s3-tests clone is missing: $SUITE
A script cannot fetch it (no general network). Get a git dir of it first, e.g.
  - agent session: use the fetch tool with source  github:ceph/s3-tests
    (it prints a git dir such as /work/.mirror/ceph+s3-tests/repo), then
  - git clone <that git dir> $SUITE
    (or set S3T_MIRROR=<that git dir> and re-run this script; it clones for you)
then re-run this script; it checks out $S3T_PIN and builds the venv.
EOF
            exit 2
        fi
    fi
    if [[ $(git -C "$SUITE" rev-parse HEAD 2>/dev/null) != "$S3T_PIN" ]]; then
        if ! git -C "$SUITE" cat-file -e "$S3T_PIN^{commit}" 2>/dev/null; then
            die 2 "$SUITE lacks commit $S3T_PIN; fetch a newer ceph/s3-tests snapshot and 'git -C $SUITE fetch <git dir>'"
        fi
        if [[ -n $(git -C "$SUITE" status --porcelain --untracked-files=no) ]]; then
            die 2 "$SUITE has local changes; cannot check out $S3T_PIN (clean it or set S3T_PIN)"
        fi
        log "checking out $S3T_PIN in $SUITE"
        git -C "$SUITE" checkout -q "$S3T_PIN"
    fi
    if ! [[ -x $SPY ]]; then
        log "creating venv $VENV"
        python3 -m venv "$VENV"
    fi
    if ! "$SPY" -c 'import pytest, boto3, munch, isodate, lxml, pytz, requests, dateutil, xdist' \
            >/dev/null 2>&1; then
        log "installing s3-tests requirements + pytest-xdist into $VENV"
        "$SPY" -m pip install -q -r "$SUITE/requirements.txt" pytest-xdist
    fi
    suite_ready || die 2 "suite setup in $S3T_HOME is still incomplete"
}

if ! suite_ready; then
    setup_suite
fi
if ((SETUP_ONLY)); then
    log "suite ready: $SUITE @ $S3T_PIN, venv $VENV"
    exit 0
fi

[[ -f $S3T_RUNNER ]] || die 2 "run_s3tests.py not found at $S3T_RUNNER (set S3T_RUNNER)"

# ---------------------------------------------------------------- test selection
# Bare function names -> nodeid in whichever functional test file defines them.
SEL=()
for t in "${TESTS[@]+"${TESTS[@]}"}"; do
    if [[ $t =~ ^test_[A-Za-z0-9_]+(\[.*\])?$ ]]; then
        fn=${t%%\[*}
        file=$(grep -l -E "^def ${fn}\(" "$SUITE"/s3tests/functional/test_*.py 2>/dev/null | head -n1 || true)
        [[ -n $file ]] || die 2 "no test function named $fn in $SUITE/s3tests/functional"
        SEL+=("s3tests/functional/$(basename "$file")::$t")
    else
        SEL+=("$t")
    fi
done

# Some runner modes need no server.
NEED_SERVER=1
for a in "${PASS[@]+"${PASS[@]}"}"; do
    case $a in --collect-only|--summarize|--summarize=*) NEED_SERVER=0 ;; esac
done

RUNNER_ARGS=(--s3tests "$SUITE" --python "$SPY" --endpoint "http://127.0.0.1:$PORT"
             -n "$WORKERS" --out "$OUT")
S3T_AWS_DATA_PATH=${S3T_AWS_DATA_PATH-$REPO/scripts/s3tests-models}
[[ -n $S3T_AWS_DATA_PATH ]] && RUNNER_ARGS+=(--aws-data-path "$S3T_AWS_DATA_PATH")
[[ -n $EXCLUDE_MARKERS ]] && RUNNER_ARGS+=(--exclude-markers "$EXCLUDE_MARKERS")
((${#SEL[@]})) && RUNNER_ARGS+=(--tests "${SEL[@]}")

if ((!NEED_SERVER)); then
    exec python3 "$S3T_RUNNER" "${RUNNER_ARGS[@]}" "${PASS[@]+"${PASS[@]}"}"
fi

# ---------------------------------------------------------------- Pails server
if [[ ! -x $PY ]]; then
    if [[ $PY == "$REPO/.venv/bin/python" ]] && command -v python3 >/dev/null; then
        log "warning: $PY not found; using $(command -v python3) (set PY=...)"
        PY=$(command -v python3)
    else
        die 2 "python for Pails not found: $PY (set PY=...)"
    fi
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if port_open "$PORT"; then
    die 2 "something already listens on 127.0.0.1:$PORT (set PORT=...)"
fi

rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
export PAILS_ROOT_ACCESS_KEY=${PAILS_ROOT_ACCESS_KEY:-PAILSROOT$(rand_hex 6 | tr a-f A-F)}
export PAILS_ROOT_SECRET_KEY=${PAILS_ROOT_SECRET_KEY:-$(rand_hex 20)}

mkdir -p "$OUT"
DATA=$(mktemp -d "${TMPDIR:-/tmp}/pails-s3t.XXXXXX")
SERVER_LOG=$OUT/pails-server.log
SERVER_PID=
META_ARGS=()
if ((CLUSTER)); then
    DATABASE=pails_s3t_$(rand_hex 4)
    META_ARGS=(--meta "$PG_URL/$DATABASE")
fi

# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    local rc=$?
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        log "stopping Pails (pid $SERVER_PID)"
        # the server runs in its own process group (setsid): signal that group
        kill -TERM -- "-$SERVER_PID" 2>/dev/null || kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            log "Pails did not stop on SIGTERM; sending SIGKILL"
            kill -KILL -- "-$SERVER_PID" 2>/dev/null || kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if ((CLUSTER)); then
        "$PY" -c 'import sys, psycopg; c = psycopg.connect(sys.argv[1] + "/postgres", autocommit=True); c.execute(
            "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)" % sys.argv[2])' "$PG_URL" "$DATABASE" || true
    fi
    if [[ $KEEP_DATA == 1 ]]; then
        log "data dir kept: $DATA"
    else
        rm -rf -- "$DATA"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A lifecycle "day" of the server and the suite alike (s3-tests' lc_debug_interval).
export PAILS_LIFECYCLE_DAY_SECONDS="${PAILS_LIFECYCLE_DAY_SECONDS:-10}"

if ((CLUSTER)); then
    SERVER_CMD=("$PY" scripts/cluster.py --gateways "$CLUSTER" --port "$PORT" --data "$DATA/cluster"
                --postgres "$PG_URL" --database "$DATABASE" --reset)
else
    SERVER_CMD=("$PY" -m pails server "$DATA" --address "127.0.0.1:$PORT" --no-admin --no-fsync)
fi
log "starting Pails on 127.0.0.1:$PORT, data $DATA (log: $SERVER_LOG): ${SERVER_CMD[*]}"
(
    cd "$REPO"
    if command -v setsid >/dev/null; then
        exec setsid "${SERVER_CMD[@]}"
    else
        exec "${SERVER_CMD[@]}"
    fi
) >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

deadline=$((SECONDS + START_TIMEOUT))
until port_open "$PORT"; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        SERVER_PID=
        tail -n 40 "$SERVER_LOG" >&2 || true
        die 1 "Pails server exited before listening (log: $SERVER_LOG)"
    fi
    if ((SECONDS >= deadline)); then
        tail -n 40 "$SERVER_LOG" >&2 || true
        die 1 "Pails did not open 127.0.0.1:$PORT within ${START_TIMEOUT}s (log: $SERVER_LOG)"
    fi
    sleep 0.2
done
log "Pails is listening (pid $SERVER_PID)"

# ---------------------------------------------------------------- users
# `pails user add` prints one JSON object: access_key, secret_key,
# canonical_id (64 hex), display_name, email.  Emit --set args from it.
USER_SETS=()
for name in main alt tenant; do
    USER_DATA=$DATA
    ((CLUSTER)) && USER_DATA=$DATA/cluster
    if ! json=$(cd "$REPO" && "$PY" -m pails user add "$name" --data "$USER_DATA" "${META_ARGS[@]+"${META_ARGS[@]}"}" \
                    --email "$name@example.com" --json 2>"$OUT/user-$name.err"); then
        cat "$OUT/user-$name.err" >&2
        die 1 "'pails user add $name' failed"
    fi
    printf '%s\n' "$json" >"$OUT/user-$name.json"
    if ! sets=$(python3 - "$name" "$OUT/user-$name.json" <<'EOF'
import json, re, sys
name, path = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()
try:
    u = json.loads(text)
except ValueError:
    # tolerate log lines around the object: take the outermost {...}
    i, j = text.find("{"), text.rfind("}")
    if i < 0 or j < i:
        sys.exit("no JSON object in 'pails user add %s' output: %r" % (name, text[:300]))
    u = json.loads(text[i:j + 1])
if not isinstance(u, dict):
    sys.exit("expected a JSON object, got %r" % (u,))
missing = [k for k in ("access_key", "secret_key", "canonical_id", "display_name", "email")
           if not u.get(k)]
if missing:
    sys.exit("'pails user add %s' JSON lacks %s: %r" % (name, ", ".join(missing), u))
if not re.fullmatch(r"[0-9a-f]{64}", str(u["canonical_id"])):
    sys.exit("canonical_id is not 64 lowercase hex: %r" % (u["canonical_id"],))
if u["display_name"] != name:
    print("warning: display_name %r != %r" % (u["display_name"], name), file=sys.stderr)
for key, field in (("access_key", "access_key"), ("secret_key", "secret_key"),
                   ("user_id", "canonical_id"), ("display_name", "display_name"),
                   ("email", "email")):
    val = str(u[field])
    if "\n" in val or "\0" in val:
        sys.exit("bad %s value" % field)
    print("s3 %s.%s=%s" % (name, key, val))
EOF
    ); then
        die 1 "could not use the output of 'pails user add $name' (saved in $OUT/user-$name.json)"
    fi
    while IFS= read -r line; do
        [[ -n $line ]] && USER_SETS+=(--set "$line")
    done <<<"$sets"
    log "user $name created"
done

# ---------------------------------------------------------------- IAM principals
# [iam] is the operator (the server's root credentials); [iam root] and
# [iam alt root] are two more accounts (docs/iam.md).  user_id: canonical ids.
# IAM names and paths get a random part per test process (as bucket names do),
# so that one xdist worker's clean-up never removes another's users.
USER_DATA=$DATA
((CLUSTER)) && USER_DATA=$DATA/cluster
operator_id=$(cd "$REPO" && "$PY" -m pails user list --data "$USER_DATA" "${META_ARGS[@]+"${META_ARGS[@]}"}" --json \
              | python3 -c 'import json, sys; print(next(u["canonical_id"] for u in json.load(sys.stdin) if u["display_name"] == "root"))') \
    || die 1 "could not read the operator's canonical id with 'pails user list'"
USER_SETS+=(--set "iam.access_key=$PAILS_ROOT_ACCESS_KEY" --set "iam.secret_key=$PAILS_ROOT_SECRET_KEY"
            --set "iam.user_id=$operator_id" --set "iam.display_name=root" --set "iam.email=root@example.com")
for pair in "iam root:iamroot" "iam alt root:iamaltroot"; do
    section=${pair%%:*} name=${pair#*:}
    json=$(cd "$REPO" && "$PY" -m pails user add "$name" --data "$USER_DATA" "${META_ARGS[@]+"${META_ARGS[@]}"}" \
               --email "$name@example.com" --json 2>"$OUT/user-$name.err") || {
        cat "$OUT/user-$name.err" >&2; die 1 "'pails user add $name' failed"; }
    printf '%s\n' "$json" >"$OUT/user-$name.json"
    while IFS= read -r line; do
        [[ -n $line ]] && USER_SETS+=(--set "$line")
    done < <(python3 -c 'import json, sys
u = json.load(open(sys.argv[2]))
for key, field in (("access_key", "access_key"), ("secret_key", "secret_key"), ("user_id", "canonical_id"),
                   ("email", "email")):
    print("%s.%s=%s" % (sys.argv[1], key, u[field]))' "$section" "$OUT/user-$name.json")
    log "account $name created for [$section]"
done

# ---------------------------------------------------------------- run
log "running s3-tests -> $OUT"
rc=0
python3 "$S3T_RUNNER" "${RUNNER_ARGS[@]}" "${USER_SETS[@]}" \
    --set "fixtures.bucket prefix=s3t-{random}-" \
    --set "fixtures.iam name prefix=s3-tests-{random}-" --set "fixtures.iam path prefix=/s3-tests-{random}/" \
    --set "s3 main.lc_debug_interval=$PAILS_LIFECYCLE_DAY_SECONDS" \
    "${PASS[@]+"${PASS[@]}"}" || rc=$?

if [[ -f $OUT/summary.md ]]; then
    echo
    cat "$OUT/summary.md"
    echo
    log "details: $OUT/failing.txt $OUT/failure_reasons.txt $OUT/results.jsonl $OUT/pytest.log"
    log "server log: $SERVER_LOG"
else
    log "no summary.md written (run_s3tests.py exit $rc); see $OUT/pytest.log"
fi
exit "$rc"
