#!/usr/bin/env bash
# The demo: an embedded master on a temporary data directory, a small tree built
# with the CLI, and a walk through it. Everything is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
WHARF="node dist/src/cli/main.js"
DATA=$(mktemp -d /tmp/wharf-demo-XXXXXX)
trap 'kill "$MASTER_PID" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DATA"' EXIT

WHARF_LOG_LEVEL=warn $WHARF master --data "$DATA/meta" --listen 127.0.0.1:0 >"$DATA/master.out" &
MASTER_PID=$!
for _ in $(seq 100); do grep -q "listening on" "$DATA/master.out" 2>/dev/null && break; sleep 0.1; done
export WHARF_MASTER=$(sed -n 's/.*listening on \([^, ]*\).*/\1/p' "$DATA/master.out")
echo "== master on $WHARF_MASTER, data in $DATA/meta"

run() { echo; echo "\$ wharf $*"; $WHARF "$@"; }
run fs mkdir -p /datasets/imagenet/train
run fs mkdir -p /datasets/imagenet/val
for i in 1 2 3; do $WHARF fs touch /datasets/imagenet/train/part-0000$i.parquet; done
run fs touch /datasets/imagenet/val/part-00004.parquet
run fs ln /datasets/imagenet /latest
run fs mkdir -p /users/alice
run fs tree /
run fs ls -l /datasets/imagenet/train
run fs mv /datasets/imagenet/val/part-00004.parquet /datasets/imagenet/train
run fs stat /latest
run fs ls /latest/train
run fs --json stat /datasets/imagenet/train/part-00001.parquet
echo; echo "\$ wharf fs mkdir /users   # already exists"
$WHARF fs mkdir /users || echo "(exit $?)"
run fs rm -r /users
run fs df
echo; echo "== stopping the master (SIGTERM) and checking the data directory offline"
kill -TERM "$MASTER_PID"; wait "$MASTER_PID" || true
run fsck --data "$DATA/meta"
