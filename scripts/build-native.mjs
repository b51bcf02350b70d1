#!/usr/bin/env node
// Builds native/ with node-gyp against the Node headers already on this machine: node-gyp's
// default is to download headers, which fails offline.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nodedir = dirname(dirname(process.execPath));
if (!existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) {
  console.error(`build-native: Node headers not found under ${nodedir}/include/node; install Node's headers (Debian: nodejs with libnode-dev) or set npm_config_nodedir`);
  process.exit(1);
}
const gyp = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const args = [gyp, 'rebuild', '--directory', join(root, 'native'), `--nodedir=${process.env.npm_config_nodedir || nodedir}`, '--jobs=max'];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('build-native: the native addon did not build. It needs g++, make, libopenblas-dev, libopenblas0-openmp and libdnnl-dev: run scripts/setup.sh (as root or with sudo).');
  process.exit(r.status ?? 1);
}
