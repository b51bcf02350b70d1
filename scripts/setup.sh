#!/usr/bin/env bash
# Installs everything BigDL.ts needs on Debian 12 with Node >= 20, then builds it.
#   bash scripts/setup.sh               system packages (redis-server only for the tests of the Redis
#                                       engine: they start their own on loopback) + npm packages +
#                                       native addon + TypeScript
#   bash scripts/setup.sh --with-torch  also PyTorch CPU (Debian's python3-torch), the reference
#                                       the benchmarks compare against
# System packages are installed with apt-get as root or through sudo; otherwise the script prints
# the exact command to run and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential python3 libopenblas-dev libopenblas0-openmp libdnnl-dev dataset-fashion-mnist redis-server openssl libjpeg-turbo-progs)
for arg in "$@"; do
  case "$arg" in
    --with-torch) packages+=(python3-torch) ;;
    *) echo "setup.sh: unknown option $arg (known: --with-torch)" >&2; exit 2 ;;
  esac
done

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup.sh: Node.js >= 20 is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then
    echo "setup.sh: installing ${missing[*]}"
    bash -c "$cmd"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    echo "setup.sh: installing ${missing[*]} with sudo"
    sudo bash -c "$cmd"
  else
    echo "setup.sh: these Debian packages are missing: ${missing[*]}" >&2
    echo "Run as root:  $cmd" >&2
    exit 1
  fi
fi

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
npm run build
