#!/usr/bin/env bash
# Launch autodidact on N ranks with Open MPI.
#
# usage: cluster/mpirun.sh [-n RANKS] [--hostfile FILE] [--per-node K] [--threads T] [--env VAR[=VALUE]]...
#                          [--allow-root] [--oversubscribe] [--bin PATH] -- AUTODIDACT-ARGS...
#   -n RANKS        total ranks (default: 2)
#   --hostfile F    Open MPI hostfile (one host per line, "slots=K" to say how many ranks it takes)
#   --per-node K    ranks per node (--map-by ppr:K:node)
#   --threads T     worker threads per rank: sets AUTODIDACT_THREADS and binds T cores to each rank
#   --env VAR[=V]   pass an environment variable to every rank (repeatable)
#   --allow-root    add Open MPI's run-as-root flags (only when asked)
#   --oversubscribe allow more ranks than cores
#   --bin PATH      the autodidact binary (default: .build/release/autodidact next to this script)
#   --logs DIR      each rank's stdout/stderr also into DIR/1/rank.<r>/ (Open MPI's --output-filename)
# example: cluster/mpirun.sh -n 4 --threads 2 -- generate --model m.gguf --prompts p.jsonl --samples 8 --output out.jsonl
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ranks=2 hostfile="" per_node="" threads="" root=0 over=0 logs="" bin="$here/.build/release/autodidact"
envs=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n) ranks=$2; shift 2 ;;
    --hostfile) hostfile=$2; shift 2 ;;
    --per-node) per_node=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --allow-root) root=1; shift ;;
    --oversubscribe) over=1; shift ;;
    --bin) bin=$2; shift 2 ;;
    --logs) logs=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "mpirun.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "mpirun.sh: give the autodidact arguments after --" >&2; exit 2; }
[ -x "$bin" ] || { echo "mpirun.sh: $bin is not built (make build)" >&2; exit 2; }
cmd=(mpirun -np "$ranks")
[ -n "$hostfile" ] && cmd+=(--hostfile "$hostfile")
if [ -n "$threads" ]; then
  mapping="slot:PE=$threads"
  [ -n "$per_node" ] && mapping="ppr:$per_node:node:PE=$threads"
  cmd+=(--map-by "$mapping" --bind-to core -x "AUTODIDACT_THREADS=$threads")
elif [ -n "$per_node" ]; then
  cmd+=(--map-by "ppr:$per_node:node")
fi
for e in "${envs[@]+"${envs[@]}"}"; do cmd+=(-x "$e"); done
# OpenBLAS's kernel choice is passed on when it is set here.
for v in OPENBLAS_CORETYPE OPENBLAS_L2_SIZE AUTODIDACT_LOG_LEVEL; do
  [ -n "${!v:-}" ] && cmd+=(-x "$v")
done
[ -n "$logs" ] && cmd+=(--output-filename "$logs")
[ "$root" = 1 ] && cmd+=(--allow-run-as-root)
[ "$over" = 1 ] && cmd+=(--oversubscribe)
cmd+=("$bin" "$@")
echo "+ ${cmd[*]}" >&2
exec "${cmd[@]}"
