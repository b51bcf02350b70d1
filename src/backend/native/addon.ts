import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../util/package-root.js';

/**
 * The raw functions exported by native/build/Release/bigdl_native.node. Argument lists mirror
 * the kernel interface in ../backend.ts with shapes/strides packed into Int32Arrays; see
 * src/backend/native/core.ts and dnn.ts for how each is called.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type NativeAddon = Record<string, (...args: any[]) => any>;

export type AddonLoad = { ok: true; addon: NativeAddon; path: string } | { ok: false; reason: string };

const SYSTEM_PACKAGES = 'build-essential libopenblas-dev libopenblas0-openmp libdnnl-dev';

let cached: AddonLoad | undefined;

/** Loads the addon once; never throws: a failure is returned with a reason a user can act on. */
export function loadAddon(): AddonLoad {
  if (cached) return cached;
  const path = join(packageRoot(), 'native', 'build', 'Release', 'bigdl_native.node');
  if (!existsSync(path)) {
    cached = {
      ok: false,
      reason: `native addon not built (${path} missing): install ${SYSTEM_PACKAGES} (scripts/setup.sh does) and run npm run build:native`,
    };
    return cached;
  }
  applyOpenMpDefaults();
  try {
    const addon = createRequire(import.meta.url)(path) as NativeAddon;
    cached = { ok: true, addon, path };
  } catch (e) {
    cached = {
      ok: false,
      reason: `native addon failed to load (${(e as Error).message.split('\n')[0]}): are ${SYSTEM_PACKAGES} installed? scripts/setup.sh installs them`,
    };
  }
  return cached;
}

/**
 * OpenMP threads that finish a parallel region spin, waiting for the next one, unless told
 * otherwise. On a machine shared with other work (a big-data node, CI, several trainers) spinning
 * threads steal the cores the others need: LeNet-5 training at 2 threads on a loaded 2-core host
 * ran 15x slower with libgomp's default spin than with passive waiting. So waiting is passive
 * unless the user chose a policy. libgomp reads these once, when the addon loads it.
 */
function applyOpenMpDefaults(): void {
  if (process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined) {
    process.env.OMP_WAIT_POLICY = 'passive';
  }
}
