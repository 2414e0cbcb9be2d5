#!/usr/bin/env bash
# A yardstick, not part of tinychat: two versions of the server one after the other, each alone
# on core 0 as in compare.sh, in alternating order, for A/B work where duel.sh cannot tell
# (docs/PERFORMANCE.md). duel.sh runs both servers on core 0 at once, so a change whose gain
# depends on having the core to itself (a sync on the event loop's thread, which the other server
# preempts) does not show there. Each run starts a fresh server of its tree (`deno task tinychat`,
# with that tree's V8 flags) and drives it with the C load generator (../shared/perf/loadgen.c)
# on core 1. Single runs here vary by ±25%; the median of the ratios of neighbouring runs holds
# to a few percent over 10 rounds.
#
#   scripts/perf/alternate.sh [-w "P W" | -w offline] [-r ROUNDS] [-s SECS] TREE_A TREE_B
#
# -w offline: compare.sh's offline workload (10 senders x 16 in flight to 10 users who logged in
# once and left; a message counts at its "300"). Prints each round's rates and B/A, then the
# median B/A.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
workload="10 16"
rounds=10
secs=3
usage() {
  echo "usage: alternate.sh [-w \"P W\" | -w offline] [-r ROUNDS] [-s SECS] TREE_A TREE_B" >&2
  exit 2
}
while getopts "w:r:s:" opt; do
  case $opt in
    w) workload=$OPTARG ;;
    r) rounds=$OPTARG ;;
    s) secs=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || usage
if [ "$workload" = offline ]; then
  load=(-m offline -P 10 -w 16 -r 10 -s 100)
  label=offline
else
  read -r pairs window <<<"$workload"
  load=(-m tinychat -P "$pairs" -w "$window" -s 100)
  label=${pairs}x$window
fi
a=$(cd "$1" && pwd)
b=$(cd "$2" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -O2 -o "$work/loadgen" "$here/../../../shared/perf/loadgen.c"

# One run of the server of tree $1 alone; prints its rate.
run() {
  local port
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  mkdir -p "$work/data"
  (cd "$1" && exec taskset -c 0 deno task tinychat serve --host 127.0.0.1 --port "$port" \
    --data "$work/data" --log-level warn >/dev/null 2>&1) &
  for _ in $(seq 200); do
    ss -ltn "sport = :$port" | grep -q LISTEN && break
    sleep 0.05
  done
  taskset -c 1 "$work/loadgen" "${load[@]}" -p "$port" -t "$secs" -q >"$work/out"
  fuser -k -INT "$port/tcp" >/dev/null 2>&1 || true
  sleep 0.3
  fuser -k -9 "$port/tcp" >/dev/null 2>&1 || true
  rm -rf "$work/data"
  grep -o ' rate=[0-9]*' "$work/out" | head -1 | cut -d= -f2
}

ratios=()
for round in $(seq "$rounds"); do
  if [ $((round % 2)) = 1 ]; then
    ra=$(run "$a")
    rb=$(run "$b")
  else
    rb=$(run "$b")
    ra=$(run "$a")
  fi
  ratios+=("$(awk "BEGIN { printf \"%.3f\", $rb / $ra }")")
  echo "$label A=$ra B=$rb B/A=${ratios[-1]}"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ r[NR] = $1 } END { print "median B/A " r[int((NR + 1) / 2)] }'
