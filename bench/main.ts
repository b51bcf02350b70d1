#!/usr/bin/env node
/**
 * Benchmark entry point: `npm run bench -- <name> [options]` (also `bigdl bench <name>`).
 * Names: kernels, models, lenet, scaling.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError } from './harness.js';
import { runKernelsBench } from './kernels.js';
import { runModelsBench } from './models.js';
import { runLenetBench } from './lenet.js';
import { runScalingBench } from './scaling.js';

export const USAGE = `usage: npm run bench -- <name> [--threads N]   (or: bigdl bench <name> [--threads N])
  kernels   sgemm and convolution GFLOP/s vs peak, OpenBLAS from C and PyTorch (threads: --threads N,
            BIGDL_THREADS, default all cores)
  models    training and inference samples/s of LeNet5, NeuMF, an LSTM text classifier and Inception-v1
            vs the same models in PyTorch, each executor (threads, replicas) timed (--threads N,
            --only lenet,neumf,lstm,inception, --torch-as-installed: PyTorch without the bench's
            malloc and OpenBLAS settings)
  lenet     the demo's recipe (LeNet-5 on Fashion-MNIST) trained by BigDL.ts and PyTorch side by side:
            per-epoch accuracy and training throughput (--epochs N, --threads N, --seed N, --lr-decay X)
  scaling   DistriOptimizer with 1-8 workers on the local and Redis engines (LeNet-5, Inception-v1): compute,
            parameter-sync and scheduling ms per iteration, sync share, samples/s, group scheduling K=1/10;
            Redis workers in network namespaces over rate-limited links when root (--models lenet,inception
            --workers 1,2,4,8 --engines local,redis --groups 1,10 --inception-groups 1 --iterations N
            --lenet-batch 64 --inception-batch 4 (per worker) --link 1gbit --delay 0.2ms --no-netns)`;

const BENCHES: Record<string, (args: readonly string[]) => Promise<number>> = {
  kernels: runKernelsBench,
  models: runModelsBench,
  lenet: runLenetBench,
  scaling: runScalingBench,
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
