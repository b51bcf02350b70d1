// `bigdl worker` processes for tests against a real redis-server: started, tracked, killed.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const workerMain = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface WorkerProc { id: string; proc: ChildProcess; out: () => string; exited: Promise<number | null> }

export const procs = new Set<ChildProcess>();
export const allWorkers: WorkerProc[] = [];

/** Starts `bigdl worker` and resolves once it printed its id. */
export function startWorker(url: string, extra: string[] = []): Promise<WorkerProc> {
  const proc = spawn(process.execPath, [workerMain, 'worker', '--master', url, '--cores', '1', '--heartbeat-ms', '500', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BIGDL_THREADS: '1' },
  });
  procs.add(proc);
  let out = '';
  let started: WorkerProc | undefined;
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => { procs.delete(proc); resolve(code); }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start in 20 s: ${out}`)), 20_000);
    const onData = (d: Buffer) => {
      out += d;
      const m = /bigdl worker (\S+): connected/.exec(out);
      if (m && !started) {
        started = { id: m[1], proc, out: () => out, exited };
        allWorkers.push(started);
        clearTimeout(timer);
        resolve(started);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (d: Buffer) => { out += d; });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`worker exited with ${code} before starting: ${out}`)); });
  });
}

/** SIGKILLs every worker still running (tests' after hooks). */
export async function killAll(): Promise<void> {
  await Promise.all([...procs].map((p) => new Promise<void>((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) { resolve(); return; }
    p.once('exit', () => resolve());
    p.kill('SIGKILL');
  })));
}
