/**
 * A `local[N]` worker process (forked by LocalCluster from the compiled file). It runs one task at a
 * time with runTask, reads and writes blocks directly in the driver's block directory, and keeps a
 * cache (Map) that lives as long as the process. It exits when the driver disconnects, so a dead
 * driver never leaves workers behind.
 *
 * argv: workerId, blockDir, cores.
 */
import { FileBlockStore } from './block-store-file.js';
import { errorToJson, runTask } from './task-runner.js';
import type { TaskContext } from './types.js';
import type { ToWorker, FromWorker } from './local.js';

const [workerId, blockDir, coresArg] = process.argv.slice(2);
if (!workerId || !blockDir || !process.send) {
  console.error('local-worker: started without a driver; LocalCluster forks this file with (workerId, blockDir, cores)');
  process.exit(2);
}
const cores = Math.max(1, Number(coresArg) || 1);
const blocks = new FileBlockStore(blockDir);
const cache = new Map<string, unknown>();

const send = (m: FromWorker): void => {
  if (!process.connected) process.exit(0); // the driver is gone
  try {
    process.send!(m);
  } catch (e) {
    if (m.kind !== 'result') throw e;
    // a value structured clone cannot carry (a function, a class with private state...)
    send({ kind: 'error', seq: m.seq, ms: m.ms, error: { message: `the task returned a value that cannot be sent to the driver: ${(e as Error).message}` } });
  }
};

process.on('message', (m: ToWorker) => {
  if (m.kind === 'shutdown') {
    process.disconnect?.();
    process.exit(0);
  }
  if (m.kind !== 'task') return;
  const { spec, seq } = m;
  const ctx: TaskContext = { taskId: spec.id, partition: spec.partition, workerId, cores, blocks, cache };
  const t0 = performance.now();
  runTask(spec, ctx).then(
    (value) => send({ kind: 'result', seq, value, ms: performance.now() - t0 }),
    (e) => send({ kind: 'error', seq, error: errorToJson(e), ms: performance.now() - t0 }),
  );
});
process.on('disconnect', () => process.exit(0));
send({ kind: 'ready', pid: process.pid });
