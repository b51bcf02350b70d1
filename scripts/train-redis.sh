#!/usr/bin/env bash
# Distributed LeNet-5 on Fashion-MNIST over a Redis cluster on this machine: starts redis-server
# on loopback and N `bigdl worker` processes, runs `bigdl train --master redis://...` with the
# remaining arguments, and stops everything afterwards (also on error or Ctrl-C).
#   bash scripts/train-redis.sh [--workers N] [bigdl train options...]
set -euo pipefail
cd "$(dirname "$0")/.."
workers=3
if [[ "${1:-}" == "--workers" ]]; then workers="$2"; shift 2; fi
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
url="redis://127.0.0.1:${port}"
redis_pid=""
pids=()
# workers first (they deregister from Redis as they stop), then redis-server
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n "$redis_pid" ]] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning > "/tmp/bigdl-redis-$port.log" 2>&1 &
redis_pid=$!
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
# each worker offers one core: with N workers on fewer cores, they share
for i in $(seq "$workers"); do
  BIGDL_THREADS=1 node ${BIGDL_DIST:-dist}/src/cli/main.js worker --master "$url" --cores 1 > "/tmp/bigdl-worker-$port-$i.log" 2>&1 &
  pids+=($!)
done
node ${BIGDL_DIST:-dist}/src/cli/main.js train --master "$url" --partitions "$workers" "$@"
