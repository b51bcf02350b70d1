/**
 * The contract between the distributed engine's driver-side logic (partitioned datasets,
 * DistriOptimizer, AllReduceParameter, distributed predict) and a cluster backend (`local[N]`
 * worker processes, or Redis-coordinated workers on many machines). The algorithm is written once
 * against these interfaces; backends differ only in how tasks are scheduled and where blocks live.
 *
 * Execution model (BigDL / Spark): control is centralised in the driver, tasks are stateless and
 * idempotent — everything a task needs is in its TaskSpec and in the block store — so a failed or
 * lost task is simply run again, anywhere. Workers may keep caches (cached partitions, a
 * deserialized model) as an optimisation only: a miss must be recomputable from lineage/blocks.
 */

/** A function workers can load: `(await import(module))[exportName]`. See ./ship.ts. */
export interface FnRef {
  /** absolute file: URL (or bare package specifier) of an ES module */
  module: string;
  /** name of the export */
  exportName: string;
}

/** Plain structured-clone-safe data: what crosses between driver and workers besides blocks. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** One task of a stage: which function to run, on which partition, with which arguments. */
export interface TaskSpec {
  /** unique within the job, stable across retries (e.g. `stage-12/part-3`) */
  id: string;
  fn: FnRef;
  /** the partition this task computes (its index in the stage) */
  partition: number;
  /** arguments for fn; large data goes through the block store, referenced by key */
  args: Json;
  /** prefer a worker that has this partition cached (a hint, never a requirement) */
  preferredWorker?: string;
}

/** A stage: tasks that may run in parallel; the stage ends when every task has a result. */
export interface StageSpec {
  id: string;
  tasks: TaskSpec[];
  /** attempts per task before the stage fails (default 4) */
  maxAttempts?: number;
  /** a task running longer than this is presumed lost and retried elsewhere (ms; default none) */
  taskTimeoutMs?: number;
}

export interface TaskResult {
  taskId: string;
  worker: string;
  /** what fn returned (structured-clone-safe) */
  value: Json;
  /** attempts it took (1 = first try) */
  attempts: number;
  ms: number;
}

export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  cores: number;
  /** ms since the worker last showed a sign of life */
  lastSeenMs: number;
}

/**
 * Where blocks live: weight slices, gradient slices, serialized models, broadcast values, cached
 * partitions that must survive a worker. Keys are strings; values are bytes. Local backends keep
 * them in shared memory or files; the Redis backend in Redis.
 */
export interface BlockStore {
  put(key: string, value: Uint8Array): Promise<void>;
  /** undefined when the key does not exist */
  get(key: string): Promise<Uint8Array | undefined>;
  /** several keys in one round trip, in order */
  getMany(keys: string[]): Promise<(Uint8Array | undefined)[]>;
  delete(keys: string[]): Promise<void>;
  /** deletes every key starting with prefix (end of a job) */
  deletePrefix(prefix: string): Promise<void>;
}

/** What a task function receives besides its args. */
export interface TaskContext {
  taskId: string;
  partition: number;
  workerId: string;
  /** cores this worker offers (replicas per task) */
  cores: number;
  blocks: BlockStore;
  /** worker-local cache (cached partitions, deserialized models); may be empty on any call */
  cache: Map<string, unknown>;
}

/** A task function: `export async function myTask(ctx: TaskContext, args: Json): Promise<Json>`. */
export type TaskFn = (ctx: TaskContext, args: Json) => Json | Promise<Json>;

/** A cluster backend, driver side. */
export interface Cluster {
  /** `local[4]`, `redis://host:6379` */
  readonly master: string;
  /** workers currently registered (may change between stages: elasticity) */
  workers(): Promise<WorkerInfo[]>;
  /** total cores over the registered workers */
  totalCores(): Promise<number>;
  /** runs a stage, retrying failed tasks (on other workers when possible); rejects with the last
   *  error of a task that failed maxAttempts times, naming the task and the worker */
  runStage(stage: StageSpec): Promise<TaskResult[]>;
  readonly blocks: BlockStore;
  /** stops workers this cluster started and releases connections */
  close(): Promise<void>;
}
