import { backend, nativeUnavailableReason } from '../backend/registry.js';
import { Engine } from '../engine/engine.js';

/**
 * The `bigdl` command. Exit codes: 0 success, 1 the command failed, 2 bad usage.
 */
const USAGE = `usage: bigdl <command> [options]

commands:
  bench <name> [--threads N]   run a benchmark (names: kernels)
  backend                      show which kernel backend and how many threads are in use
  help                         this text

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
      case 'bench': {
        const { runBench } = await import('../../bench/main.js');
        return await runBench(rest[0], rest.slice(1));
      }
      default:
        console.error(`bigdl: unknown command '${cmd}'\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    console.error(`bigdl ${cmd}: ${(e as Error).message}`);
    return 1;
  }
}
