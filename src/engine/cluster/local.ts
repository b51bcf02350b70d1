/**
 * `local[N]`: the embedded cluster. N worker processes on this machine (child_process.fork of the
 * compiled ./local-worker.js), a scheduler in the driver, and a FileBlockStore in a temp directory
 * that the driver owns and every worker reads and writes directly (see ./block-store-file.ts for
 * why files rather than blocks in the driver's memory sent over IPC: measured, files are several
 * times cheaper for a 10 MB block and keep bulk data off the driver's event loop).
 *
 * Workers are processes, not threads, so a worker can really die (a crash, the OOM killer, a test's
 * SIGKILL) and the cluster behaves as a real one would:
 * - each worker runs one task at a time; a task goes to an idle worker, preferably the one its spec
 *   names (a cached partition), waiting at most `localityWaitMs` for it before running elsewhere;
 * - a task that throws is retried (on another worker when there is one) up to the stage's
 *   maxAttempts (default 4); a task still running after taskTimeoutMs has its worker killed and is
 *   retried; after the last attempt the stage rejects with a TaskFailedError naming the stage, the
 *   task, the worker and the task's own error message;
 * - a worker that dies has its running task rerun elsewhere (the attempt counts) and is replaced
 *   by a new process (with a new id), so the cluster keeps N workers; a worker's cache dies with it;
 * - each worker keeps one cache Map for its lifetime (TaskContext.cache), shared by its tasks.
 * Workers exit on their own when the driver goes away; close() stops them and removes the blocks.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../../util/package-root.js';
import { FileBlockStore } from './block-store-file.js';
import type { BlockStore, Cluster, Json, StageSpec, TaskResult, TaskSpec, WorkerInfo } from './types.js';

/** driver -> worker */
export type ToWorker = { kind: 'task'; seq: number; spec: TaskSpec } | { kind: 'shutdown' };
/** worker -> driver */
export type FromWorker =
  | { kind: 'ready'; pid: number }
  | { kind: 'result'; seq: number; value: Json; ms: number }
  | { kind: 'error'; seq: number; error: { message: string; stack?: string }; ms: number };

export interface LocalClusterOptions {
  /** worker processes (N of local[N]) */
  workers: number;
  /** cores each worker offers to its tasks (TaskContext.cores; default 1) */
  coresPerWorker?: number;
  /** directory under which the block directory is created (default the OS temp dir; /dev/shm for RAM) */
  blockDir?: string;
  /** how long a task waits for its preferred (cache-holding) worker before running elsewhere (ms, default 100) */
  localityWaitMs?: number;
  /** a worker that is not ready after this long fails start() (ms, default 30000) */
  startTimeoutMs?: number;
  /** node flags for workers (default: the driver's, minus --test/--inspect/--watch flags) */
  execArgv?: string[];
  /** extra environment for workers */
  env?: Record<string, string>;
}

export interface LocalClusterStats {
  /** task attempts sent to workers */
  tasksLaunched: number;
  /** attempts that ended in an error, a timeout or the worker's death */
  tasksFailed: number;
  /** workers that died while the cluster was running */
  workersLost: number;
  /** worker processes started, replacements included */
  workersStarted: number;
}

/** A task that failed maxAttempts times. */
export class TaskFailedError extends Error {
  constructor(
    readonly stageId: string,
    readonly taskId: string,
    readonly worker: string,
    readonly attempts: number,
    readonly reason: string,
    readonly remoteStack?: string,
  ) {
    super(`stage ${stageId}: task ${taskId} failed ${attempts} time${attempts === 1 ? '' : 's'}; last attempt on worker ${worker}: ${reason}`);
    this.name = 'TaskFailedError';
    if (remoteStack) this.stack = `${this.stack}\n  --- on worker ${worker} ---\n${remoteStack}`;
  }
}

/** N of `local`, `local[N]`, `local[*]` (every core); undefined for any other master. */
export function parseLocalMaster(master: string): number | undefined {
  if (master === 'local') return 1;
  const m = /^local\[(\d+|\*)\]$/.exec(master);
  if (!m) return undefined;
  if (m[1] === '*') return availableParallelism();
  const n = Number(m[1]);
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`master ${master}: the number of workers must be at least 1`);
  return n;
}

interface Slot {
  id: string;
  child: ChildProcess;
  pid: number;
  ready: boolean;
  alive: boolean;
  running: Attempt | null;
  lastSeen: number;
  stderrTail: string;
  killReason?: string;
  readyWaiters: { resolve: () => void; reject: (e: Error) => void } | null;
}

interface Attempt {
  entry: Entry;
  seq: number;
  started: number;
  timer?: NodeJS.Timeout;
}

interface Entry {
  stage: StageRun;
  index: number;
  spec: TaskSpec;
  attempts: number;
  failedOn: Set<string>;
  queuedAt: number;
}

interface StageRun {
  id: string;
  results: TaskResult[];
  remaining: number;
  maxAttempts: number;
  timeoutMs?: number;
  done: boolean;
  resolve: (r: TaskResult[]) => void;
  reject: (e: Error) => void;
}

const MAX_START_FAILURES = 3;

export class LocalCluster implements Cluster {
  readonly master: string;
  readonly blocks: BlockStore;
  private readonly store: FileBlockStore;
  private readonly n: number;
  private readonly cores: number;
  private readonly localityWaitMs: number;
  private readonly startTimeoutMs: number;
  private readonly execArgv: string[];
  private readonly env: NodeJS.ProcessEnv;
  private readonly workerFile: string;
  private readonly slots = new Map<string, Slot>();
  private readonly stages = new Set<StageRun>();
  private queue: Entry[] = [];
  private seq = 0;
  private nextIndex = 0;
  private startFailures = 0;
  private closing = false;
  private closed: Promise<void> | null = null;
  private localityTimer: NodeJS.Timeout | null = null;
  private readonly exitHook = (): void => this.killAllSync();
  private readonly counters: LocalClusterStats = { tasksLaunched: 0, tasksFailed: 0, workersLost: 0, workersStarted: 0 };

  private constructor(options: LocalClusterOptions) {
    const n = options.workers;
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`LocalCluster: workers must be a positive integer, got ${n}`);
    const cores = options.coresPerWorker ?? 1;
    if (!Number.isSafeInteger(cores) || cores < 1) throw new RangeError(`LocalCluster: coresPerWorker must be a positive integer, got ${cores}`);
    this.n = n;
    this.cores = cores;
    this.master = `local[${n}]`;
    this.localityWaitMs = options.localityWaitMs ?? 100;
    this.startTimeoutMs = options.startTimeoutMs ?? 30000;
    this.execArgv = options.execArgv ?? process.execArgv.filter((a) => !/^--(test|experimental-test|inspect|watch)/.test(a));
    const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
    delete env.NODE_TEST_CONTEXT; // workers are not test files
    // one kernel thread pool per worker, sized to the cores it offers (not the driver's setting)
    env.BIGDL_THREADS = options.env?.BIGDL_THREADS ?? String(cores);
    this.env = env;
    this.workerFile = workerFile();
    this.store = FileBlockStore.createTemp(options.blockDir ?? tmpdir());
    this.blocks = this.store;
    process.on('exit', this.exitHook);
  }

  /**
   * Starts a cluster: `LocalCluster.start('local[4]')`, `LocalCluster.start(4)` or with options;
   * resolves when every worker is ready.
   */
  static async start(spec: string | number | LocalClusterOptions): Promise<LocalCluster> {
    let options: LocalClusterOptions;
    if (typeof spec === 'string') {
      const n = parseLocalMaster(spec);
      if (n === undefined) throw new RangeError(`LocalCluster: master must be local, local[N] or local[*], got '${spec}'`);
      options = { workers: n };
    } else if (typeof spec === 'number') {
      options = { workers: spec };
    } else {
      options = spec;
    }
    const cluster = new LocalCluster(options);
    try {
      await Promise.all(Array.from({ length: cluster.n }, () => cluster.spawn()));
    } catch (e) {
      await cluster.close();
      throw e;
    }
    return cluster;
  }

  async workers(): Promise<WorkerInfo[]> {
    const now = Date.now();
    const host = hostname();
    return [...this.slots.values()]
      .filter((s) => s.alive && s.ready)
      .map((s) => ({ id: s.id, host, pid: s.pid, cores: this.cores, lastSeenMs: now - s.lastSeen }));
  }

  async totalCores(): Promise<number> {
    return this.n * this.cores;
  }

  /** Counters since start. */
  get stats(): LocalClusterStats {
    return { ...this.counters };
  }

  /** Tasks running right now: which worker (and process) runs each, for how long. */
  running(): { stageId: string; taskId: string; worker: string; pid: number; ms: number }[] {
    const now = Date.now();
    return [...this.slots.values()]
      .filter((s) => s.alive && s.running)
      .map((s) => ({ stageId: s.running!.entry.stage.id, taskId: s.running!.entry.spec.id, worker: s.id, pid: s.pid, ms: now - s.running!.started }));
  }

  runStage(stage: StageSpec): Promise<TaskResult[]> {
    if (this.closing) return Promise.reject(new Error(`LocalCluster ${this.master} is closed: cannot run stage ${stage?.id}`));
    try {
      validateStage(stage);
    } catch (e) {
      return Promise.reject(e);
    }
    if (stage.tasks.length === 0) return Promise.resolve([]);
    return new Promise<TaskResult[]>((resolve, reject) => {
      const run: StageRun = {
        id: stage.id,
        results: new Array(stage.tasks.length),
        remaining: stage.tasks.length,
        maxAttempts: stage.maxAttempts ?? 4,
        timeoutMs: stage.taskTimeoutMs,
        done: false,
        resolve,
        reject,
      };
      this.stages.add(run);
      const now = Date.now();
      stage.tasks.forEach((spec, index) => this.queue.push({ stage: run, index, spec, attempts: 0, failedOn: new Set(), queuedAt: now }));
      this.dispatch();
    });
  }

  close(): Promise<void> {
    if (this.closed) return this.closed;
    this.closing = true;
    if (this.localityTimer) clearTimeout(this.localityTimer);
    for (const run of [...this.stages]) this.failStage(run, new Error(`LocalCluster ${this.master} was closed while stage ${run.id} was running`));
    const exits = [...this.slots.values()].map((s) => this.stopWorker(s));
    this.closed = Promise.all(exits)
      .then(() => this.store.destroy())
      .finally(() => process.off('exit', this.exitHook));
    return this.closed;
  }

  // ---- workers ----

  private spawn(): Promise<void> {
    const id = `local-${this.nextIndex++}`;
    const child = fork(this.workerFile, [id, this.store.dir, String(this.cores)], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      execArgv: this.execArgv,
      env: this.env,
    });
    this.counters.workersStarted++;
    const slot: Slot = {
      id, child, pid: child.pid ?? -1, ready: false, alive: true, running: null,
      lastSeen: Date.now(), stderrTail: '', readyWaiters: null,
    };
    this.slots.set(id, slot);
    const ready = new Promise<void>((resolve, reject) => {
      slot.readyWaiters = { resolve, reject };
    });
    const timer = setTimeout(() => {
      if (!slot.ready && slot.alive) {
        slot.killReason = `worker ${id} was not ready after ${this.startTimeoutMs} ms`;
        child.kill('SIGKILL');
      }
    }, this.startTimeoutMs);
    timer.unref();
    ready.then(() => clearTimeout(timer), () => clearTimeout(timer));
    child.stderr?.on('data', (d: Buffer) => {
      process.stderr.write(d);
      slot.stderrTail = (slot.stderrTail + d.toString()).slice(-2000);
    });
    child.on('message', (m: FromWorker) => this.onMessage(slot, m));
    child.on('exit', (code, signal) => this.onExit(slot, code, signal));
    child.on('error', (e) => {
      slot.killReason ??= `worker ${id}: ${e.message}`;
      if (child.pid === undefined) this.onExit(slot, null, null); // never started: no exit event
      else child.kill('SIGKILL');
    });
    return ready;
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    if (!slot.alive) return;
    slot.lastSeen = Date.now();
    if (m.kind === 'ready') {
      slot.ready = true;
      slot.pid = m.pid;
      this.startFailures = 0;
      slot.readyWaiters?.resolve();
      slot.readyWaiters = null;
      this.dispatch();
      return;
    }
    const att = slot.running;
    if (!att || att.seq !== m.seq) return; // a stale reply
    if (att.timer) clearTimeout(att.timer);
    slot.running = null;
    const { entry } = att;
    const run = entry.stage;
    if (!run.done) {
      if (m.kind === 'result') {
        run.results[entry.index] = { taskId: entry.spec.id, worker: slot.id, value: m.value, attempts: entry.attempts, ms: m.ms };
        if (--run.remaining === 0) {
          run.done = true;
          this.stages.delete(run);
          run.resolve(run.results);
        }
      } else {
        this.attemptFailed(entry, slot.id, m.error.message, m.error.stack);
      }
    }
    this.dispatch();
  }

  private onExit(slot: Slot, code: number | null, signal: NodeJS.Signals | null): void {
    if (!slot.alive) return;
    slot.alive = false;
    this.slots.delete(slot.id);
    const tail = slot.stderrTail.trim();
    const reason = (slot.killReason ?? `worker ${slot.id} (pid ${slot.pid}) died: ${signal ? `killed by ${signal}` : `exit code ${code}`}`) +
      (tail && !slot.killReason ? `; its last stderr: ${tail.slice(-500)}` : '');
    if (!slot.ready) {
      this.startFailures++;
      slot.readyWaiters?.reject(new Error(`LocalCluster: ${reason} before it was ready`));
      slot.readyWaiters = null;
    }
    if (this.closing) return;
    this.counters.workersLost++;
    const att = slot.running;
    slot.running = null;
    if (att) {
      if (att.timer) clearTimeout(att.timer);
      if (!att.entry.stage.done) this.attemptFailed(att.entry, slot.id, reason);
    }
    if (this.startFailures < MAX_START_FAILURES) {
      this.spawn().catch(() => { /* counted in startFailures; the next exit decides */ });
    } else if (![...this.slots.values()].some((s) => s.alive)) {
      for (const run of [...this.stages]) this.failStage(run, new Error(`LocalCluster ${this.master}: workers keep dying before they are ready; last: ${reason}`));
    }
    this.dispatch();
  }

  private stopWorker(slot: Slot): Promise<void> {
    if (!slot.alive) return Promise.resolve();
    return new Promise((resolve) => {
      slot.child.once('exit', () => resolve());
      try {
        slot.child.send({ kind: 'shutdown' } satisfies ToWorker);
      } catch {
        slot.child.kill('SIGKILL');
      }
      setTimeout(() => slot.child.kill('SIGKILL'), 2000).unref();
    });
  }

  private killAllSync(): void {
    for (const s of this.slots.values()) if (s.alive) s.child.kill('SIGKILL');
    try {
      this.store.destroySync();
    } catch { /* best effort at exit */ }
  }

  // ---- scheduling ----

  private attemptFailed(entry: Entry, worker: string, message: string, stack?: string): void {
    this.counters.tasksFailed++;
    const run = entry.stage;
    if (run.done) return;
    entry.failedOn.add(worker);
    if (entry.attempts >= run.maxAttempts) {
      this.failStage(run, new TaskFailedError(run.id, entry.spec.id, worker, entry.attempts, message, stack));
      return;
    }
    if (entry.spec.preferredWorker === worker) {
      // its preferred worker failed it (or died): run it wherever is free
      const { preferredWorker: _, ...rest } = entry.spec;
      entry.spec = rest;
    }
    entry.queuedAt = Date.now();
    this.queue.push(entry);
  }

  private failStage(run: StageRun, error: Error): void {
    if (run.done) return;
    run.done = true;
    this.stages.delete(run);
    this.queue = this.queue.filter((e) => e.stage !== run);
    run.reject(error);
  }

  private dispatch(): void {
    if (this.closing || this.queue.length === 0) return;
    const live = [...this.slots.values()].filter((s) => s.alive);
    const liveIds = new Set(live.map((s) => s.id));
    const idle = live.filter((s) => s.ready && !s.running);
    const now = Date.now();
    let soonest = Infinity;
    for (const w of idle) {
      if (this.queue.length === 0) break;
      // a task that failed on w goes elsewhere while some live worker has not failed it yet
      const avoid = (e: Entry): boolean => e.failedOn.has(w.id) && live.some((s) => !e.failedOn.has(s.id));
      const waiting = (e: Entry): boolean => {
        const pref = e.spec.preferredWorker;
        if (pref === undefined || pref === w.id || !liveIds.has(pref)) return false;
        const left = this.localityWaitMs - (now - e.queuedAt);
        if (left > 0) soonest = Math.min(soonest, left);
        return left > 0;
      };
      let pick = this.queue.findIndex((e) => e.spec.preferredWorker === w.id && !avoid(e));
      if (pick < 0) pick = this.queue.findIndex((e) => !avoid(e) && !waiting(e));
      if (pick < 0) continue;
      const [entry] = this.queue.splice(pick, 1);
      this.launch(w, entry, now);
    }
    if (soonest < Infinity && this.queue.length > 0 && !this.localityTimer) {
      this.localityTimer = setTimeout(() => {
        this.localityTimer = null;
        this.dispatch();
      }, soonest + 1);
    }
  }

  private launch(w: Slot, entry: Entry, now: number): void {
    entry.attempts++;
    this.counters.tasksLaunched++;
    const att: Attempt = { entry, seq: ++this.seq, started: now };
    w.running = att;
    const timeout = entry.stage.timeoutMs;
    if (timeout !== undefined) {
      att.timer = setTimeout(() => {
        if (w.running !== att || !w.alive) return;
        w.killReason = `task ${entry.spec.id} timed out after ${timeout} ms on worker ${w.id} (the worker was killed)`;
        w.child.kill('SIGKILL');
      }, timeout);
    }
    try {
      w.child.send({ kind: 'task', seq: att.seq, spec: entry.spec } satisfies ToWorker, (err) => {
        if (err && w.alive && w.running === att) {
          w.killReason = `worker ${w.id}: cannot send task ${entry.spec.id}: ${err.message}`;
          w.child.kill('SIGKILL');
        }
      });
    } catch (e) {
      // the spec itself cannot be serialized: no worker could run it
      if (att.timer) clearTimeout(att.timer);
      w.running = null;
      this.failStage(entry.stage, new Error(`stage ${entry.stage.id}: task ${entry.spec.id} cannot be sent to a worker: ${(e as Error).message}`));
    }
  }
}

function validateStage(stage: StageSpec): void {
  if (!stage || typeof stage.id !== 'string' || !Array.isArray(stage.tasks)) throw new TypeError('runStage: expected { id: string, tasks: TaskSpec[] }');
  const ids = new Set<string>();
  for (const t of stage.tasks) {
    if (!t || typeof t.id !== 'string') throw new TypeError(`runStage ${stage.id}: every task needs a string id`);
    if (ids.has(t.id)) throw new Error(`runStage ${stage.id}: task id ${t.id} appears twice`);
    ids.add(t.id);
    if (!t.fn || typeof t.fn.module !== 'string' || typeof t.fn.exportName !== 'string') {
      throw new TypeError(`runStage ${stage.id}: task ${t.id} needs fn = { module, exportName } (use fnRef or refOf)`);
    }
    if (!Number.isSafeInteger(t.partition) || t.partition < 0) throw new TypeError(`runStage ${stage.id}: task ${t.id}: partition must be a non-negative integer`);
  }
  const { maxAttempts, taskTimeoutMs } = stage;
  if (maxAttempts !== undefined && (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1)) throw new RangeError(`runStage ${stage.id}: maxAttempts must be a positive integer, got ${maxAttempts}`);
  if (taskTimeoutMs !== undefined && !(taskTimeoutMs > 0)) throw new RangeError(`runStage ${stage.id}: taskTimeoutMs must be positive, got ${taskTimeoutMs}`);
}

/** The compiled worker next to this file, or in dist/ when this file runs from TypeScript source. */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const sibling = here.replace(/local\.[cm]?[jt]s$/, 'local-worker.js');
  if (existsSync(sibling)) return sibling;
  const built = join(packageRoot(), 'dist', 'src', 'engine', 'cluster', 'local-worker.js');
  if (existsSync(built)) return built;
  throw new Error(`LocalCluster: the compiled worker (${sibling}) does not exist: build with tsc first`);
}
