import type { Backend, BackendName } from './backend.js';
import { referenceBackend } from './reference/index.js';
import { createNativeBackend } from './native/index.js';
import { loadAddon } from './native/addon.js';

/**
 * Picks the backend tensors dispatch to: `native` when the addon loads, else `reference` with a
 * one-line warning. BIGDL_BACKEND=reference|native forces a choice (native then fails loudly
 * if it cannot load); BIGDL_REQUIRE_NATIVE=1 (CI) turns the fallback into an error.
 */
let nativeBackend: Backend | undefined;
let active: Backend | undefined;

export function nativeUnavailableReason(): string | null {
  const load = loadAddon();
  return load.ok ? null : load.reason;
}

export function getBackend(name: BackendName): Backend {
  if (name === 'reference') return referenceBackend;
  if (name !== 'native') throw new Error(`unknown backend '${String(name)}': use 'native' or 'reference'`);
  if (!nativeBackend) {
    const load = loadAddon();
    if (!load.ok) throw new Error(`backend 'native' is not available: ${load.reason}`);
    nativeBackend = createNativeBackend(load.addon);
  }
  return nativeBackend;
}

export function backend(): Backend {
  if (active) return active;
  const forced = process.env.BIGDL_BACKEND;
  if (forced === 'reference' || forced === 'native') {
    active = getBackend(forced);
  } else if (forced) {
    throw new Error(`BIGDL_BACKEND='${forced}' is not a backend: use 'native' or 'reference'`);
  } else {
    const reason = nativeUnavailableReason();
    if (reason === null) active = getBackend('native');
    else if (process.env.BIGDL_REQUIRE_NATIVE === '1') throw new Error(`BIGDL_REQUIRE_NATIVE=1 but ${reason}`);
    else {
      process.emitWarning(`bigdl-ts: using the slow reference backend: ${reason}`);
      active = referenceBackend;
    }
  }
  applyThreadSetting(active);
  return active;
}

/** Switches the backend tensor ops dispatch to (tests run one suite per backend this way). */
export function setBackend(name: BackendName): Backend {
  active = getBackend(name);
  applyThreadSetting(active);
  return active;
}

/** Runs fn with `name` active, restoring the previous backend afterwards. */
export function withBackend<T>(name: BackendName, fn: () => T): T {
  const previous = backend();
  setBackend(name);
  try {
    return fn();
  } finally {
    active = previous;
  }
}

let threads: number | undefined;

function applyThreadSetting(b: Backend): void {
  if (threads !== undefined) b.setThreads(threads);
  else {
    const env = process.env.BIGDL_THREADS;
    if (env !== undefined) {
      const n = Number(env);
      if (!Number.isInteger(n) || n < 1) throw new Error(`BIGDL_THREADS='${env}' must be a positive integer`);
      threads = n;
      b.setThreads(n);
    }
  }
}

/** Sets the one thread count OpenBLAS and oneDNN share (they run on one OpenMP pool). */
export function setThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`setThreads(${n}): the thread count must be a positive integer`);
  threads = n;
  backend().setThreads(n);
}

export function getThreads(): number {
  return backend().getThreads();
}
