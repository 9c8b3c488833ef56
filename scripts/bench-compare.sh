#!/usr/bin/env bash
# `npm run bench:compare`: raftkv side by side with etcd through the shared benchmark harness.
#
#   npm run bench:compare -- [--rounds N] [--scale X]
#
# Builds, starts the local three-node cluster (`raftkv cluster up`) in a fresh temporary data root,
# runs the harness's compare.sh with the nodes' endpoints, pids and /metrics URLs, keeps the raw
# output in bench-results/compare-<UTC date>-<commit>.txt, prints the table, and stops the cluster
# by pid however the run ends. The harness lives next to the repository (see docs/benchmarks.md);
# RAFTKV_SHARED_BENCH names another place for it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${RAFTKV_SHARED_BENCH:-$root/../shared/bench}
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds|--scale)
      [ $# -ge 2 ] || { echo "bench-compare: $1 needs a value" >&2; exit 2; }
      pass+=("$1" "$2"); shift 2 ;;
    *) echo "bench-compare: unknown option $1 (only --rounds and --scale are passed on)" >&2; exit 2 ;;
  esac
done
if [ ! -x "$shared/compare.sh" ]; then
  echo "bench-compare: the shared benchmark harness is missing: no executable $shared/compare.sh." >&2
  echo "  It is not part of this repository; check it out next to the repository (docs/benchmarks.md)" >&2
  echo "  or set RAFTKV_SHARED_BENCH to its bench/ directory." >&2
  exit 3
fi
cd "$root"
npm run build --silent
data=$(mktemp -d "${TMPDIR:-/tmp}/raftkv-compare-XXXXXX")
cluster_pid=""
stop_cluster() {
  local status=$?
  set +e
  if [ -n "$cluster_pid" ] && kill -0 "$cluster_pid" 2>/dev/null; then
    # `cluster up` stops every node on SIGTERM; give it 20 s.
    kill -TERM "$cluster_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$cluster_pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$cluster_pid" 2>/dev/null && kill -KILL "$cluster_pid" 2>/dev/null
  fi
  # Whatever node is still running (its launcher was killed): by its own pid file.
  for f in "$data"/*.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f")
    case "$p" in ''|*[!0-9]*) continue ;; esac
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  done
  rm -rf "$data"
  exit "$status"
}
trap stop_cluster EXIT
# The end of each node's log (before the data root goes), for a cluster that did not come up.
node_logs() {
  for f in "$data"/*.log; do
    [ -f "$f" ] || continue
    echo "--- the end of $(basename "$f"):" >&2
    tail -15 "$f" >&2
  done
}
trap 'exit 130' INT TERM
node bin/raftkv.js cluster up --data-root "$data" >"$data/cluster.out" 2>&1 &
cluster_pid=$!
for _ in $(seq 1 300); do
  grep -q '^endpoints: ' "$data/cluster.out" && break
  kill -0 "$cluster_pid" 2>/dev/null || { echo "bench-compare: the cluster did not start:" >&2; cat "$data/cluster.out" >&2; node_logs; exit 1; }
  sleep 0.2
done
grep -q '^endpoints: ' "$data/cluster.out" || { echo "bench-compare: the cluster had no leader within 60 s:" >&2; cat "$data/cluster.out" >&2; node_logs; exit 1; }
endpoints=$(sed -n 's/^endpoints: //p' "$data/cluster.out")
# One line per node: "<id>  client <addr>  peer <addr>  http <addr>  pid <pid>  log <file>".
pids=$(awk '$2 == "client" && $8 == "pid" { printf "%s%s", sep, $9; sep = " " }' "$data/cluster.out")
metrics=$(awk '$2 == "client" && $6 == "http" { printf "%shttp://%s/metrics", sep, $7; sep = "," }' "$data/cluster.out")
[ -n "$pids" ] && [ -n "$metrics" ] || { echo "bench-compare: could not read the nodes' pids and addresses:" >&2; cat "$data/cluster.out" >&2; exit 1; }
mkdir -p bench-results
out="bench-results/compare-$(date -u +%Y-%m-%dT%H%M%SZ)-$(git rev-parse --short HEAD 2>/dev/null || echo unknown).txt"
{
  echo "# raftkv bench:compare $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "# machine: $(uname -srm), $(nproc) cores; args: ${pass[*]:-}"
  echo "# raftkv endpoints $endpoints pids $pids metrics $metrics"
} >"$out"
echo "bench-compare: cluster up ($endpoints; pids $pids); running compare.sh ${pass[*]:-}" >&2
set +e
"$shared/compare.sh" --raftkv-endpoints "$endpoints" --raftkv-pids "$pids" --raftkv-metrics "$metrics" ${pass[@]+"${pass[@]}"} >>"$out" 2>&1
status=$?
set -e
# The table: from its header line to the end.
awk '/^scenario +etcd/ { table = 1 } table' "$out"
echo "bench-compare: raw output in $out" >&2
[ "$status" -eq 0 ] || { echo "bench-compare: compare.sh failed (exit $status); the end of its output:" >&2; tail -20 "$out" >&2; exit "$status"; }
