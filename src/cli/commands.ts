import { backend, nativeUnavailableReason } from '../backend/registry.js';
import { Engine } from '../engine/engine.js';
import { CliUsageError } from './datasets.js';
import { NonFiniteLossError } from '../optim/optimizer.js';
import { SerializationError } from '../serialization/format.js';

/**
 * The `bigdl` command. Exit codes: 0 success, 1 the command failed, 2 bad usage, 3 bad data or
 * model file, 4 training diverged (non-finite loss).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, badInput: 3, diverged: 4 } as const;
const USAGE = `usage: bigdl <command> [options]

commands:
  train [options]              train LeNet-5 on Fashion-MNIST (the demo); --help for options
  evaluate <model> [options]   accuracy and loss of a saved classifier on a data split
  predict <model> [options]    predicted classes as CSV
  info <model>                 check a model file and describe what is in it
  bench <name> [--threads N]   run a benchmark (names: kernels, models)
  backend                      show which kernel backend and how many threads are in use
  worker --master redis://...  run tasks for a Redis-coordinated cluster; --help for options
  help                         this text

exit codes: 0 ok, 1 failed, 2 bad usage, 3 bad data or model file, 4 training diverged

environment:
  BIGDL_BACKEND=native|reference   force a backend (default: native when built)
  BIGDL_THREADS=N                  threads for OpenBLAS and oneDNN (default: all cores)`;

export async function runCli(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return cmd === undefined ? 2 : 0;
      case 'backend': {
        if (rest.includes('--help')) {
          console.log('usage: bigdl backend\n\nPrints the active kernel backend, its thread count and, if native is unavailable, why.');
          return 0;
        }
        const b = backend();
        console.log(`backend: ${b.name}\nthreads: ${Engine.getThreads()}`);
        const reason = nativeUnavailableReason();
        if (reason) console.log(`native unavailable: ${reason}`);
        return 0;
      }
      case 'train': {
        const { runTrain } = await import('./train.js');
        return await runTrain(rest);
      }
      case 'evaluate':
      case 'predict':
      case 'info': {
        const m = await import('./model-commands.js');
        return await (cmd === 'evaluate' ? m.runEvaluate : cmd === 'predict' ? m.runPredict : m.runInfo)(rest);
      }
      case 'worker': {
        const { runWorkerCli } = await import('../engine/cluster/redis-worker.js');
        return await runWorkerCli(rest);
      }
      case 'bench': {
        const { runBench } = await import('../../bench/main.js');
        return await runBench(rest[0], rest.slice(1));
      }
      default:
        console.error(`bigdl: unknown command '${cmd}'\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    const err = e as Error & { code?: string };
    console.error(`bigdl ${cmd}: ${err.message}`);
    if (e instanceof CliUsageError || err.code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`run 'bigdl ${cmd} --help' for the options`);
      return EXIT.usage;
    }
    if (e instanceof NonFiniteLossError) return EXIT.diverged;
    if (e instanceof SerializationError || err.code === 'ENOENT' || /^(readIdx|loadFashionMnist|parseIdx)/.test(err.message)) return EXIT.badInput;
    return EXIT.failed;
  }
}
