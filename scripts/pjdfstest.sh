#!/usr/bin/env bash
# POSIX conformance: runs pjdfstest through a real Wharf mount (wharf up on a local
# directory store, --allow-other --default-permissions) and, beside it, on the local
# disk, and prints the pass rate of each group. Needs root (pjdfstest changes users).
#
#   scripts/pjdfstest.sh [GROUP...]        # default: every group but chflags (BSD only)
#   PJDFSTEST_STORE=s3rver scripts/pjdfstest.sh …   # the mount over s3rver instead (after make build)
#
# pjdfstest itself is not part of Wharf: this uses the pinned, unmodified copy in
# ../shared/tools/pjdfstest when it is there (or $PJDFSTEST_SRC), built in a temporary
# copy with a config.h written here for Linux/glibc (no autotools needed), and says so
# plainly when it is not. Per-test logs go to $OUT (default: a temporary directory).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=${PJDFSTEST_SRC:-$root/../shared/tools/pjdfstest}
if [ ! -f "$src/pjdfstest.c" ]; then
  echo "pjdfstest not found at $src (set PJDFSTEST_SRC to a copy of pjd/pjdfstest); nothing run" >&2
  exit 2
fi
[ "$(id -u)" = 0 ] || { echo "pjdfstest needs root" >&2; exit 2; }
command -v prove >/dev/null || { echo "perl's prove is needed" >&2; exit 2; }

work=$(mktemp -d /tmp/wharf-pjdfstest.XXXXXX)
OUT=${OUT:-$work/logs}
mkdir -p "$OUT"
cp -r "$src" "$work/pjdfstest"
cat > "$work/pjdfstest/config.h" <<'EOF'
#define _GNU_SOURCE 1
#define HAVE_SYS_SYSMACROS_H 1
#define HAVE_FACCESSAT 1
#define HAVE_FCHMODAT 1
#define HAVE_FCHOWNAT 1
#define HAVE_FSTATAT 1
#define HAVE_LINKAT 1
#define HAVE_MKDIRAT 1
#define HAVE_MKFIFOAT 1
#define HAVE_MKNODAT 1
#define HAVE_OPENAT 1
#define HAVE_POSIX_FALLOCATE 1
#define HAVE_READLINKAT 1
#define HAVE_RENAMEAT 1
#define HAVE_SYMLINKAT 1
#define HAVE_UTIMENSAT 1
EOF
cc -O2 -o "$work/pjdfstest/pjdfstest" "$work/pjdfstest/pjdfstest.c"

groups=("$@")
if [ ${#groups[@]} = 0 ]; then
  for g in "$work"/pjdfstest/tests/*/; do g=$(basename "$g"); [ "$g" = chflags ] || groups+=("$g"); done
fi

mnt=$work/mnt
mkdir -p "$work/store" "$mnt" "$work/disk"
# PJDFSTEST_STORE=s3rver: the mount's store is s3rver on 127.0.0.1 (the S3 protocol)
# instead of a local directory. Its keys fail past ~234 bytes a segment (and it dies
# past 241), so the name- and path-length tests (*/02.t, */03.t) stay on the local store.
store_args=(--store "file://$work/store")
s3pid=
if [ "${PJDFSTEST_STORE:-local}" = s3rver ]; then
  mkdir -p "$work/s3"
  coproc S3 { WHARF_S3RVER_CHILD=1 exec node --openssl-legacy-provider "$root/dist/test/helpers/s3rverChild.js" "$work/s3" wharf; }
  s3pid=$S3_PID
  read -r line <&"${S3[0]}"
  port=$(echo "$line" | sed 's/[^0-9]//g')
  store_args=(--store "s3://wharf/" --endpoint "http://127.0.0.1:$port" --region us-east-1)
  export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 WHARF_S3_CHECKSUMS=WHEN_REQUIRED WHARF_S3_PATH_STYLE=true
  unset AWS_CA_BUNDLE
fi
WHARF_LOG_LEVEL=warn node "$root/dist/src/cli/main.js" up "${store_args[@]}" --mount "$mnt" \
  --cache-dir "$work/cache" --allow-other --default-permissions > "$work/up.log" 2>&1 &
up=$!
cleanup() {
  kill "$up" 2>/dev/null || true; wait "$up" 2>/dev/null || true; umount -l "$mnt" 2>/dev/null || true
  [ -n "$s3pid" ] && kill "$s3pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do grep -q "mounted at" "$work/up.log" 2>/dev/null && break; sleep 0.1; done
grep -q "mounted at" "$work/up.log" || { cat "$work/up.log" >&2; exit 1; }

# Runs every test of a group from a fresh directory under $1; logs as $2-GROUP-N.log.
run_group() {
  local base=$1 tag=$2 g=$3 t d
  for t in "$work/pjdfstest/tests/$g"/*.t; do
    case "${PJDFSTEST_STORE:-local}:$(basename "$t")" in s3rver:02.t|s3rver:03.t) continue ;; esac
    d=$base/$tag-$g-$(basename "$t" .t)
    mkdir -p "$d"
    (cd "$d" && timeout 300 bash "$t" > "$OUT/$tag-$g-$(basename "$t" .t).log" 2>&1) || true
    rm -rf "$d" 2>/dev/null || true
  done
}
count() { cat "$OUT"/$1-$2-*.log 2>/dev/null | grep -c "$3" || true; }

printf '%-16s %18s %18s\n' group wharf 'local disk'
tw=0; pw=0; td=0; pd=0
for g in "${groups[@]}"; do
  run_group "$mnt" wharf "$g"
  run_group "$work/disk" disk "$g"
  okw=$(count wharf "$g" '^ok'); bad=$(count wharf "$g" '^not ok'); okd=$(count disk "$g" '^ok'); badd=$(count disk "$g" '^not ok')
  printf '%-16s %10s (%3s%%) %10s (%3s%%)\n' "$g" "$okw/$((okw + bad))" "$(( (okw + bad) ? 100 * okw / (okw + bad) : 0 ))" \
    "$okd/$((okd + badd))" "$(( (okd + badd) ? 100 * okd / (okd + badd) : 0 ))"
  pw=$((pw + okw)); tw=$((tw + okw + bad)); pd=$((pd + okd)); td=$((td + okd + badd))
done
printf '%-16s %10s (%3s%%) %10s (%3s%%)\n' all "$pw/$tw" "$(( tw ? 100 * pw / tw : 0 ))" "$pd/$td" "$(( td ? 100 * pd / td : 0 ))"
echo "logs: $OUT (failures: grep -h '^not ok' $OUT/wharf-*.log)"
