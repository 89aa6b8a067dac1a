#!/usr/bin/env bash
# The demo: a populated local "bucket" mounted with one command (`wharf up`:
# embedded master, block cache and FUSE mount in one process), a walk through it
# with ordinary shell tools, the CLI against the embedded master, and a clean
# unmount. Everything is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
WHARF="node dist/src/cli/main.js"
WORK=$(mktemp -d /tmp/wharf-demo-XXXXXX)
STORE=$WORK/bucket MNT=$WORK/mnt
cleanup() {
  [ -n "${UP_PID:-}" ] && kill -TERM "$UP_PID" 2>/dev/null && wait "$UP_PID" 2>/dev/null || true
  grep -q " $MNT " /proc/mounts 2>/dev/null && umount -l "$MNT" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== a local directory stands in for a bucket: $STORE"
mkdir -p "$STORE/datasets/imagenet/train" "$STORE/datasets/imagenet/val" "$STORE/users/alice"
for i in 1 2 3; do head -c $((i * 300000)) /dev/urandom > "$STORE/datasets/imagenet/train/part-0000$i.parquet"; done
echo "label,count" > "$STORE/datasets/imagenet/val/labels.csv"
echo "hello from the store" > "$STORE/users/alice/notes.txt"

echo "== wharf up --store file://$STORE --mount $MNT"
WHARF_LOG_LEVEL=warn $WHARF up --store "file://$STORE" --mount "$MNT" --cache-dir "$WORK/cache" --sync-interval 0 --attr-timeout 200 >"$WORK/up.out" 2>"$WORK/up.err" &
UP_PID=$!
for _ in $(seq 100); do grep -q "mounted at" "$WORK/up.out" 2>/dev/null && break; sleep 0.1; done
cat "$WORK/up.out"
export WHARF_MASTER=$(sed -n 's/.*master on \([^;, ]*\).*/\1/p' "$WORK/up.out")

run() { echo; echo "\$ $*"; "$@"; }
run ls -l "$MNT/datasets/imagenet/train"
run cat "$MNT/users/alice/notes.txt"
run sha256sum "$MNT/datasets/imagenet/train/part-00003.parquet" "$STORE/datasets/imagenet/train/part-00003.parquet"
run mkdir -p "$MNT/users/bob/results"
echo "accuracy=0.93" > "$MNT/users/bob/results/run1.txt"
run cat "$STORE/users/bob/results/run1.txt"
run mv "$MNT/users/bob/results/run1.txt" "$MNT/users/bob/results/best.txt"
run ls "$STORE/users/bob/results"
echo "appeared in the store directly" > "$STORE/datasets/imagenet/val/new.csv"
run ls "$MNT/datasets/imagenet/val"
run $WHARF status
run $WHARF fs tree /users
run df -h "$MNT"
echo; echo "== unmounting (SIGTERM)"
kill -TERM "$UP_PID"; wait "$UP_PID" || true; UP_PID=
run $WHARF fsck --data "$WORK/cache/meta"
