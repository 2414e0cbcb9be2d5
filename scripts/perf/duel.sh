#!/usr/bin/env bash
# A yardstick, not part of tinychat: two versions of the server, for A/B work on cost per message
# (docs/PERFORMANCE.md). Each server runs as its tree's `deno task tinychat` runs it (with that
# tree's V8 flags) on core 0, each with the C load generator (../shared/perf/loadgen.c) on core 1.
#
# By default both servers run at once: the scheduler gives each busy server half of the core, so
# the ratio of their rates is the ratio of their costs, and the machine's noise (±25-40% between
# runs of one server here) hits both alike: A against A comes out within ±2%. Each round runs the
# pair twice, in both orders.
#
# -t, in turns: each server alone on core 0, as compare.sh runs it, A and B one after the other
# (the order alternating), a fresh server each run. For a change whose gain needs the core to
# itself, which the other server of a duel takes away (a sync on the event loop's thread, which it
# preempts). Noisier: take 10 rounds at least.
#
#   scripts/perf/duel.sh [-t] [-w "P W" | -w offline] [-r ROUNDS] [-s SECS] TREE_A TREE_B
#
# -w offline: compare.sh's offline workload (10 senders x 16 in flight to 10 users who logged in
# once and left; a message counts at its "300"). TREE_A and TREE_B are checkouts of tinychat (git
# worktree add /tmp/a <commit>). Prints each run's rates and B/A, then the median B/A.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
workload="10 16"
rounds=2
secs=5
turns=false
usage() {
  echo "usage: duel.sh [-t] [-w \"P W\" | -w offline] [-r ROUNDS] [-s SECS] TREE_A TREE_B" >&2
  exit 2
}
while getopts "tw:r:s:" opt; do
  case $opt in
    t) turns=true ;;
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
  load=(-m tinychat -P "$pairs" -w "$window")
  label=${pairs}x$window
fi
a=$(cd "$1" && pwd)
b=$(cd "$2" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -O2 -o "$work/loadgen" "$here/../../../shared/perf/loadgen.c"

# Starts the server of tree $1 on port $2, data in $3; waits for its listening socket.
start() {
  (cd "$1" && exec taskset -c 0 deno task tinychat serve --host 127.0.0.1 --port "$2" \
    --data "$3" --log-level warn >/dev/null 2>&1) &
  for _ in $(seq 200); do
    ss -ltn "sport = :$2" | grep -q LISTEN && return
    sleep 0.05
  done
  echo "duel.sh: the server of $1 did not start" >&2
  exit 1
}

# One run: $1 and $2 at once; prints "rate_1 rate_2".
run() {
  local pa=$((20000 + RANDOM % 20000)) pb
  pb=$((pa + 1))
  mkdir -p "$work/a" "$work/b"
  start "$1" "$pa" "$work/a"
  start "$2" "$pb" "$work/b"
  taskset -c 1 "$work/loadgen" "${load[@]}" -p "$pa" -t "$secs" -q >"$work/out.a" &
  local first=$!
  taskset -c 1 "$work/loadgen" "${load[@]}" -p "$pb" -t "$secs" -q >"$work/out.b"
  wait "$first"
  fuser -k -INT "$pa/tcp" "$pb/tcp" >/dev/null 2>&1 || true
  sleep 0.5
  fuser -k -9 "$pa/tcp" "$pb/tcp" >/dev/null 2>&1 || true
  rm -rf "$work/a" "$work/b"
  echo "$(grep -o ' rate=[0-9]*' "$work/out.a" | head -1 | cut -d= -f2)" \
    "$(grep -o ' rate=[0-9]*' "$work/out.b" | head -1 | cut -d= -f2)"
}

# One run of the server of tree $1 alone; prints its rate.
alone() {
  local port
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  mkdir -p "$work/a"
  start "$1" "$port" "$work/a"
  taskset -c 1 "$work/loadgen" "${load[@]}" -p "$port" -t "$secs" -q >"$work/out.a"
  fuser -k -INT "$port/tcp" >/dev/null 2>&1 || true
  sleep 0.3
  fuser -k -9 "$port/tcp" >/dev/null 2>&1 || true
  rm -rf "$work/a"
  grep -o ' rate=[0-9]*' "$work/out.a" | head -1 | cut -d= -f2
}

ratios=()
ratio() { # ratio RATE_A RATE_B ORDER: records and prints B/A
  ratios+=("$(awk "BEGIN { printf \"%.3f\", $2 / $1 }")")
  echo "$label $3 B/A=${ratios[-1]}"
}
for round in $(seq "$rounds"); do
  if $turns; then
    if [ $((round % 2)) = 1 ]; then
      ra=$(alone "$a")
      rb=$(alone "$b")
      ratio "$ra" "$rb" "A=$ra B=$rb"
    else
      rb=$(alone "$b")
      ra=$(alone "$a")
      ratio "$ra" "$rb" "B=$rb A=$ra"
    fi
    continue
  fi
  read -r ra rb <<<"$(run "$a" "$b")"
  ratio "$ra" "$rb" "A=$ra B=$rb"
  read -r rb ra <<<"$(run "$b" "$a")"
  ratio "$ra" "$rb" "B=$rb A=$ra"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ r[NR] = $1 } END { print "median B/A " r[int((NR + 1) / 2)] }'
