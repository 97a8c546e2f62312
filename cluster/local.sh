#!/usr/bin/env bash
# Single-node multi-process debugging: N ranks on this machine, each rank's output in its own file.
#
# usage: cluster/local.sh N CONFIG [key.path=value]...     runs `autodidact run CONFIG ...` (the round
#                                                           scheduler; see configs/)
#        cluster/local.sh N -- AUTODIDACT-ARGS...           runs any autodidact command
# Logs: runs/logs/<timestamp>/1/rank.<r>/{stdout,stderr} (Open MPI's --output-filename layout); rank 0's
# output is also shown on the terminal. Oversubscription and run-as-root are allowed (a debugging tool).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { sed -n '2,9p' "$0"; exit 2; }
n=$1; shift
if [ "$1" = "--" ]; then shift; args=("$@"); else args=(run "$@"); fi
logs="$here/runs/logs/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$logs"
echo "local.sh: $n ranks, logs in $logs" >&2
set +e
"$here/cluster/mpirun.sh" -n "$n" --oversubscribe --allow-root --logs "$logs" --env AUTODIDACT_THREADS=${AUTODIDACT_THREADS:-1} -- \
  "${args[@]}" 2>&1 | tee "$logs/mpirun.log"
status=${PIPESTATUS[0]}
set -e
exit "$status"
