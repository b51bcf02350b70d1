#!/usr/bin/env node
/**
 * Benchmark entry point: `npm run bench -- <name> [options]` (also `bigdl bench <name>`).
 * Names: kernels. Later: models, scaling.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError } from './harness.js';
import { runKernelsBench } from './kernels.js';

export const USAGE = `usage: npm run bench -- <name> [--threads N]   (or: bigdl bench <name> [--threads N])
  kernels   sgemm and convolution GFLOP/s vs peak, OpenBLAS from C and PyTorch (threads: --threads N,
            BIGDL_THREADS, default all cores)`;

const BENCHES: Record<string, (args: readonly string[]) => Promise<number>> = {
  kernels: runKernelsBench,
};

/** Runs benchmark `name`; resolves to the process exit code (2 for an unknown name or bad option). */
export async function runBench(name: string | undefined, args: readonly string[] = []): Promise<number> {
  const bench = name === undefined ? undefined : Object.hasOwn(BENCHES, name) ? BENCHES[name] : undefined;
  if (!bench) {
    console.error(name === undefined || name === '--help' || name === '-h' ? USAGE : `unknown benchmark '${name}'\n${USAGE}`);
    return 2;
  }
  try {
    return await bench(args);
  } catch (e) {
    console.error(`bench ${name}: ${e instanceof Error ? e.message : String(e)}`);
    if (e instanceof UsageError) {
      console.error(USAGE);
      return 2;
    }
    return 1;
  }
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  process.exitCode = await runBench(process.argv[2], process.argv.slice(3));
}
