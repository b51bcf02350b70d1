/**
 * PartitionedDataset: Spark's RDD role. A dataset is a lineage: a source (an array stored as
 * blocks, a range, text files cut into byte ranges, CSV files, parquet row groups, a DuckDB query)
 * and the transforms applied to it. Transforms are lazy and return new datasets; actions (count,
 * collect, take, reduce, foreachPartition, saveAsTextFile) run one stage on the cluster with one
 * task per partition, each task computing its partition by walking the lineage from the source
 * (./partition-task.ts).
 *
 * Narrow transforms (map, filter, flatMap, mapPartitions, sample, zip, union, glom) are pipelined
 * inside a task. Wide ones (repartition, shuffle) and CSV sources end a stage: their input is
 * computed once by a stage of its own that writes blocks, and later stages read those blocks (the
 * blocks stay until the context closes, so lost tasks and later actions reuse them).
 *
 * cache() keeps each computed partition in the cache of the worker that computed it and records
 * which worker that was; later tasks of that partition prefer that worker. A cached partition whose
 * worker died is recomputed from the lineage wherever the task runs.
 *
 * Functions must be shippable (see ./cluster/ship.ts): exported, marked with shippable(), or given
 * as an FnRef. Each transform may take a JSON `args` value, passed to the function as its second
 * argument (mapPartitions and foreachPartition: `fn(items, args, info)`).
 */
import { existsSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CsvStats } from '../data/csv.js';
import { loadFn, refOf } from './cluster/ship.js';
import type { BlockStore, Cluster, FnRef, Json, TaskSpec } from './cluster/types.js';
import { DATASET_TASK, serializeItems, unpack, type Action, type DatasetTaskResult, type Plan } from './partition-task.js';
import type { ParquetPiece, SqlSource, TextSplit } from './sources.js';

/** What datasets need from their context (EngineContext implements it). */
export interface DatasetHost {
  readonly cluster: Cluster;
  readonly blocks: BlockStore;
  /** prefix of every block key and stage id of this context */
  readonly keyPrefix: string;
  readonly defaultParallelism: number;
  readonly maxAttempts?: number;
  readonly taskTimeoutMs?: number;
  /** cache key -> worker holding it */
  readonly cacheLocations: Map<string, string>;
  newId(): number;
  checkOpen(what: string): void;
}

/**
 * What mapPartitions / foreachPartition functions get as their third argument: where they run, and
 * the worker's block store and cache, so a function can read a large value once per worker (a
 * model, a lookup table) by the block key given in its JSON args, as distributed predict does.
 */
export interface PartitionInfo {
  partition: number;
  workerId: string;
  taskId: string;
  /** cores this worker offers its tasks */
  cores: number;
  blocks: BlockStore;
  /** worker-local, kept between tasks; may be empty on any call (a new worker), so only a cache */
  cache: Map<string, unknown>;
}

/**
 * Marks datasets without an import: nn/Module.predict recognises a PartitionedDataset by it and only
 * then loads the engine (Symbol.for, so it is the same symbol in every copy of this module).
 */
export const PARTITIONED_DATASET: unique symbol = Symbol.for('bigdl.PartitionedDataset');

type Fn<A extends unknown[], R> = ((...args: A) => R) | FnRef;

type Dep =
  | { kind: 'array'; parts: Uint8Array[] }
  | { kind: 'range'; bounds: [number, number][] }
  | { kind: 'text'; splits: TextSplit[]; encoding: string }
  | { kind: 'csv'; files: string[]; parts: number[]; options: Json; arrays: boolean }
  | { kind: 'parquet'; files: string[]; parts: ParquetPiece[][]; columns: string[] | null }
  | { kind: 'sql'; source: SqlSource }
  | { kind: 'narrow'; op: 'map' | 'filter' | 'flatMap' | 'mapPartitions'; fn: FnRef; args: Json; parent: PartitionedDataset<any> }
  | { kind: 'glom'; parent: PartitionedDataset<any> }
  | { kind: 'sample'; fraction: number; seed: number; parent: PartitionedDataset<any> }
  | { kind: 'zip'; left: PartitionedDataset<any>; right: PartitionedDataset<any> }
  | { kind: 'union'; parents: PartitionedDataset<any>[]; index: [number, number][] }
  | { kind: 'exchange'; mode: 'roundRobin' | 'random'; seed: number; parent: PartitionedDataset<any> };

export class PartitionedDataset<T> {
  readonly [PARTITIONED_DATASET] = true;
  /** unique within its context */
  readonly id: number;
  private cached = false;
  private prepared: Promise<void> | null = null;
  /** block keys per partition, once an array / CSV / exchange is materialized */
  private keys: string[][] | null = null;
  protected csvStatsValue: CsvStats | null = null;

  /** @internal use the EngineContext sources and the transforms */
  constructor(readonly host: DatasetHost, private readonly dep: Dep, readonly numPartitions: number) {
    this.id = host.newId();
  }

  // ---------------- transforms ----------------

  /** fn(item, args?) for every item (sync or async). */
  map<U, A extends Json = Json>(fn: Fn<[T, A], U | PromiseLike<U>>, args?: A): PartitionedDataset<U> {
    return this.narrow('map', fn, args);
  }

  /** The items for which fn(item, args?) is truthy. */
  filter<A extends Json = Json>(fn: Fn<[T, A], unknown>, args?: A): PartitionedDataset<T> {
    return this.narrow('filter', fn, args);
  }

  /** The items of the arrays (or other iterables) fn(item, args?) returns. */
  flatMap<U, A extends Json = Json>(fn: Fn<[T, A], Iterable<U> | PromiseLike<Iterable<U>>>, args?: A): PartitionedDataset<U> {
    return this.narrow('flatMap', fn, args);
  }

  /** fn(items, args, info) once per partition, with the partition's items as an array; returns an array or (async) iterable. */
  mapPartitions<U, A extends Json = Json>(
    fn: Fn<[T[], A, PartitionInfo], Iterable<U> | AsyncIterable<U> | PromiseLike<Iterable<U>>>,
    args?: A,
  ): PartitionedDataset<U> {
    return this.narrow('mapPartitions', fn, args);
  }

  /** Each partition as one array item. */
  glom(): PartitionedDataset<T[]> {
    return new PartitionedDataset<T[]>(this.host, { kind: 'glom', parent: this }, this.numPartitions);
  }

  /**
   * Pairs [a, b] of this dataset's and other's items, partition by partition: both must have the
   * same number of partitions and the same number of items in each (e.g. one is a map of the other).
   */
  zip<U>(other: PartitionedDataset<U>): PartitionedDataset<[T, U]> {
    this.sameContext(other, 'zip');
    if (other.numPartitions !== this.numPartitions) {
      throw new Error(`zip: this dataset has ${this.numPartitions} partitions and the other ${other.numPartitions}; zip needs the same partitioning`);
    }
    return new PartitionedDataset<[T, U]>(this.host, { kind: 'zip', left: this, right: other }, this.numPartitions);
  }

  /**
   * A Bernoulli sample without replacement: each item kept with probability `fraction`, drawn from a
   * generator seeded by (seed, partition), so the same seed gives the same sample on any cluster.
   */
  sample(fraction: number, seed = 42): PartitionedDataset<T> {
    if (typeof fraction !== 'number' || !(fraction >= 0 && fraction <= 1)) throw new RangeError(`sample: fraction must be in [0, 1], got ${fraction}`);
    checkSeed(seed, 'sample');
    return new PartitionedDataset<T>(this.host, { kind: 'sample', fraction, seed, parent: this }, this.numPartitions);
  }

  /** This dataset's partitions followed by the others' (no data moves). */
  union(...others: PartitionedDataset<T>[]): PartitionedDataset<T> {
    const parents = [this, ...others];
    const index: [number, number][] = [];
    parents.forEach((d, i) => {
      this.sameContext(d, 'union');
      for (let p = 0; p < d.numPartitions; p++) index.push([i, p]);
    });
    return new PartitionedDataset<T>(this.host, { kind: 'union', parents, index }, index.length);
  }

  /** The same items in n partitions of near-equal size (round robin; a shuffle stage). */
  repartition(n: number): PartitionedDataset<T> {
    checkPartitions(n, 'repartition');
    return new PartitionedDataset<T>(this.host, { kind: 'exchange', mode: 'roundRobin', seed: 0, parent: this }, n);
  }

  /**
   * The items in a random order across the whole dataset (a shuffle stage): each item goes to a
   * random partition, then each partition is permuted; deterministic for a seed. Partition sizes
   * vary (binomially) around the mean.
   */
  shuffle(seed = 42, numPartitions: number = this.numPartitions): PartitionedDataset<T> {
    checkSeed(seed, 'shuffle');
    checkPartitions(numPartitions, 'shuffle');
    return new PartitionedDataset<T>(this.host, { kind: 'exchange', mode: 'random', seed, parent: this }, numPartitions);
  }

  /**
   * Keeps computed partitions in the workers' caches (from the next action on); returns this.
   * A partition whose worker dies is recomputed from the lineage.
   */
  cache(): this {
    this.cached = true;
    return this;
  }

  get isCached(): boolean {
    return this.cached;
  }

  /** Stops caching; evicts the cached partitions from the workers that hold them (best effort). */
  async unpersist(): Promise<void> {
    this.cached = false;
    const byWorker = new Map<string, string[]>();
    for (let p = 0; p < this.numPartitions; p++) {
      const key = this.cacheKey(p);
      const w = this.host.cacheLocations.get(key);
      if (w === undefined) continue;
      this.host.cacheLocations.delete(key);
      byWorker.set(w, [...(byWorker.get(w) ?? []), key]);
    }
    if (byWorker.size === 0) return;
    const alive = new Set((await this.host.cluster.workers()).map((w) => w.id));
    const stageId = `${this.host.keyPrefix}/stage-${this.host.newId()}-unpersist`;
    const tasks: TaskSpec[] = [...byWorker].filter(([w]) => alive.has(w)).map(([w, keys], i) => ({
      id: `${stageId}/${w}`, fn: DATASET_TASK, partition: i, preferredWorker: w,
      args: { plan: { op: 'range', start: 0, end: 0, step: 1 }, action: { kind: 'evict', keys } } as unknown as Json,
    }));
    await this.host.cluster.runStage({ id: stageId, tasks, maxAttempts: 1 });
  }

  /** Which worker holds each cached partition (undefined: not cached, or its worker died). */
  async cacheLocations(): Promise<(string | undefined)[]> {
    await this.pruneLostCache();
    return Array.from({ length: this.numPartitions }, (_, p) => this.host.cacheLocations.get(this.cacheKey(p)));
  }

  // ---------------- actions ----------------

  async count(): Promise<number> {
    const res = await this.run(range(this.numPartitions), () => ({ kind: 'count' }), 'count');
    return res.reduce((s, r) => s + (r.value as number), 0);
  }

  /** Items in each partition, in partition order. */
  async partitionSizes(): Promise<number[]> {
    const res = await this.run(range(this.numPartitions), () => ({ kind: 'count' }), 'count');
    return res.map((r) => r.value as number);
  }

  /** Every item, in partition order. */
  async collect(): Promise<T[]> {
    const parts = range(this.numPartitions);
    const res = await this.run(parts, (p, stage) => ({ kind: 'collect', resultKey: `${stage}/result/${p}` }), 'collect');
    const out: T[] = [];
    for (const r of res) {
      const items = (await unpack(r.value, this.host.blocks)) as T[];
      for (let i = 0; i < items.length; i++) out.push(items[i]);
    }
    return out;
  }

  /** The first n items in partition order, computing as few partitions as it can (1, then 4x more each round). */
  async take(n: number): Promise<T[]> {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`take: n must be a non-negative integer, got ${n}`);
    const out: T[] = [];
    let next = 0;
    let batch = 1;
    while (out.length < n && next < this.numPartitions) {
      const parts = range(Math.min(batch, this.numPartitions - next)).map((i) => next + i);
      const want = n - out.length;
      const res = await this.run(parts, (p, stage) => ({ kind: 'take', n: want, resultKey: `${stage}/result/${p}` }), 'take');
      for (const r of res) {
        const items = (await unpack(r.value, this.host.blocks)) as T[];
        for (let i = 0; i < items.length && out.length < n; i++) out.push(items[i]);
      }
      next += parts.length;
      batch *= 4;
    }
    return out;
  }

  /** The first item, or undefined for an empty dataset. */
  async first(): Promise<T | undefined> {
    return (await this.take(1))[0];
  }

  /** Folds the items with fn(a, b) (associative and commutative): within partitions on the workers, then over partitions here. */
  reduce(fn: Fn<[T, T], T | PromiseLike<T>>): Promise<T> {
    const ref = refOf(fn, 'reduce'); // refused here, not in a rejected promise
    return this.reduceWith(fn, ref);
  }

  private async reduceWith(fn: Fn<[T, T], T | PromiseLike<T>>, ref: FnRef): Promise<T> {
    const res = await this.run(range(this.numPartitions), (p, stage) => ({ kind: 'reduce', fn: ref, resultKey: `${stage}/result/${p}` }), 'reduce');
    const partials: T[] = [];
    for (const r of res) {
      const v = r.value as { empty?: true; value?: Json };
      if (!v.empty) partials.push((await unpack(v.value!, this.host.blocks)) as T);
    }
    if (partials.length === 0) throw new Error('reduce: the dataset is empty');
    const f = typeof fn === 'function' ? fn : await loadFn<(a: T, b: T) => T | PromiseLike<T>>(ref);
    let acc = partials[0];
    for (let i = 1; i < partials.length; i++) acc = await f(acc, partials[i]);
    return acc;
  }

  /** fn(items, args, info) on the workers, once per partition (for side effects: writing to a database...). */
  foreachPartition<A extends Json = Json>(fn: Fn<[T[], A, PartitionInfo], unknown>, args?: A): Promise<void> {
    const ref = refOf(fn, 'foreachPartition');
    const a = checkArgs(args, 'foreachPartition');
    return this.run(range(this.numPartitions), () => ({ kind: 'foreach', fn: ref, args: a }), 'foreachPartition').then(() => undefined);
  }

  /**
   * Writes one text file per partition, `dir/part-00000`..., one item per line (strings as they
   * are, numbers as numbers, anything else as JSON), then `dir/_SUCCESS`. The directory must not
   * exist or be empty. Workers write the files: with a multi-machine cluster `dir` must be shared.
   */
  async saveAsTextFile(dir: string): Promise<void> {
    if (typeof dir !== 'string' || dir === '') throw new TypeError('saveAsTextFile: expected a directory path');
    const abs = resolve(dir);
    if (existsSync(abs) && readdirSync(abs).length > 0) throw new Error(`saveAsTextFile: ${abs} already exists and is not empty`);
    mkdirSync(abs, { recursive: true });
    await this.run(range(this.numPartitions), () => ({ kind: 'save', dir: abs }), 'saveAsTextFile');
    writeFileSync(resolve(abs, '_SUCCESS'), '');
  }

  /** The lineage, one dataset per line (Spark's toDebugString). */
  toDebugString(): string {
    const lines: string[] = [];
    const visit = (d: PartitionedDataset<any>, depth: number): void => {
      lines.push(`${'  '.repeat(depth)}(${d.numPartitions}) ${d.describe()}${d.cached ? ' [cached]' : ''} #${d.id}`);
      for (const p of d.parents()) visit(p, depth + 1);
    };
    visit(this, 0);
    return lines.join('\n');
  }

  // ---------------- internals ----------------

  private narrow<U>(op: 'map' | 'filter' | 'flatMap' | 'mapPartitions', fn: unknown, args: unknown): PartitionedDataset<U> {
    const ref = refOf(fn, op);
    const a = checkArgs(args, op);
    return new PartitionedDataset<U>(this.host, { kind: 'narrow', op, fn: ref, args: a, parent: this }, this.numPartitions);
  }

  private sameContext(other: PartitionedDataset<any>, what: string): void {
    if (!(other instanceof PartitionedDataset)) throw new TypeError(`${what}: expected a PartitionedDataset`);
    if (other.host !== this.host) throw new Error(`${what}: the datasets belong to different contexts`);
  }

  private parents(): PartitionedDataset<any>[] {
    const d = this.dep;
    switch (d.kind) {
      case 'narrow': case 'glom': case 'sample': case 'exchange': return [d.parent];
      case 'zip': return [d.left, d.right];
      case 'union': return d.parents;
      default: return [];
    }
  }

  private describe(): string {
    const d = this.dep;
    switch (d.kind) {
      case 'array': return 'parallelize';
      case 'range': return 'range';
      case 'text': return `textFile ${[...new Set(d.splits.map((s) => s.path))].join(', ')}`;
      case 'csv': return `csvFile ${d.files.join(', ')}`;
      case 'parquet': return `parquetFile(${d.files.join(', ')}, ${this.numPartitions} partitions)`;
      case 'sql': return `sql(${d.source.query.length > 80 ? `${d.source.query.slice(0, 80)}...` : d.source.query})`.replace(/\s+/g, ' ');
      case 'narrow': return `${d.op}(${d.fn.exportName})`;
      case 'exchange': return d.mode === 'random' ? `shuffle(seed ${d.seed})` : 'repartition';
      default: return d.kind;
    }
  }

  private cacheKey(p: number): string {
    return `${this.host.keyPrefix}:cache:${this.id}:${p}`;
  }

  /** Materializes sources and wide dependencies (once; again after a failure). */
  protected prepare(): Promise<void> {
    if (!this.prepared) {
      this.prepared = this.doPrepare();
      this.prepared.catch(() => {
        this.prepared = null;
      });
    }
    return this.prepared;
  }

  private async doPrepare(): Promise<void> {
    const d = this.dep;
    const prefix = `${this.host.keyPrefix}/ds-${this.id}`;
    switch (d.kind) {
      case 'array': {
        const keys = d.parts.map((_, p) => `${prefix}/${p}`);
        await Promise.all(d.parts.map((bytes, p) => this.host.blocks.put(keys[p], bytes)));
        this.keys = keys.map((k) => [k]);
        d.parts = []; // the blocks hold them now
        return;
      }
      case 'range': case 'text': case 'parquet': case 'sql':
        return;
      case 'csv': {
        const stageId = `${this.host.keyPrefix}/stage-${this.host.newId()}-csv`;
        const tasks: TaskSpec[] = d.files.map((path, f) => ({
          id: `${stageId}/file-${f}`, fn: DATASET_TASK, partition: f,
          args: {
            plan: { op: 'csv', path, options: d.options, arrays: d.arrays },
            action: { kind: 'exchange', mode: 'contiguous', outputs: d.parts[f], seed: 0, keyPrefix: prefix },
          } as unknown as Json,
        }));
        const results = await this.runStage(stageId, tasks, 'csvFile');
        const stats: CsvStats = { records: 0, skipped: 0, reasons: [], lines: 0 };
        for (const r of results) {
          for (const s of r.csv ?? []) {
            stats.records += s.records;
            stats.skipped += s.skipped;
            stats.lines += s.lines;
            stats.reasons.push(...s.reasons);
          }
        }
        this.csvStatsValue = stats;
        this.keys = d.files.flatMap((_, f) => range(d.parts[f]).map((r) => [`${prefix}/${f}/${r}`]));
        return;
      }
      case 'narrow': case 'glom': case 'sample':
        return d.parent.prepare();
      case 'zip':
        await Promise.all([d.left.prepare(), d.right.prepare()]);
        return;
      case 'union':
        await Promise.all(d.parents.map((p) => p.prepare()));
        return;
      case 'exchange': {
        const parent = d.parent;
        await parent.prepare();
        await this.pruneLostCache();
        const stageId = `${this.host.keyPrefix}/stage-${this.host.newId()}-${d.mode === 'random' ? 'shuffle' : 'repartition'}`;
        const action: Action = { kind: 'exchange', mode: d.mode, outputs: this.numPartitions, seed: d.seed, keyPrefix: prefix };
        const tasks = range(parent.numPartitions).map((m) => parent.taskSpec(stageId, m, action));
        await this.runStage(stageId, tasks, d.mode === 'random' ? 'shuffle' : 'repartition');
        this.keys = range(this.numPartitions).map((r) => range(parent.numPartitions).map((m) => `${prefix}/${m}/${r}`));
        return;
      }
    }
  }

  /**
   * For engines built on datasets (DistriOptimizer, distributed predict): every partition's plan and
   * the worker that should run it, after preparing inputs (shuffle writes, CSV blocks). Custom tasks
   * compute a plan with `computePartition` (./partition-task.ts) and report what they cached with
   * `noteCached`.
   */
  async partitionTasks(): Promise<{ plan: Plan; preferredWorker?: string }[]> {
    this.host.checkOpen('partitionTasks');
    await this.prepare();
    await this.pruneLostCache();
    return Array.from({ length: this.numPartitions }, (_, p) => {
      const w = this.preferred(p);
      return w === undefined ? { plan: this.plan(p) } : { plan: this.plan(p), preferredWorker: w };
    });
  }

  /** Records that `worker` now holds the cached partitions `keys` (reported by a custom task). */
  noteCached(keys: readonly string[], worker: string): void {
    for (const k of keys) this.host.cacheLocations.set(k, worker);
  }

  /** The host context (cluster and block store) this dataset runs on. */
  get context(): DatasetHost {
    return this.host;
  }

  /** Partition p's lineage as the task walks it. */
  private plan(p: number): Plan {
    const node = this.basePlan(p);
    return this.cached ? { op: 'cache', key: this.cacheKey(p), parent: node } : node;
  }

  private basePlan(p: number): Plan {
    const d = this.dep;
    switch (d.kind) {
      case 'array': case 'csv':
        return { op: 'blocks', keys: this.materialized(p) };
      case 'exchange': {
        const node: Plan = { op: 'blocks', keys: this.materialized(p) };
        return d.mode === 'random' ? { op: 'localShuffle', seed: d.seed, partition: p, parent: node } : node;
      }
      case 'range':
        return { op: 'range', start: d.bounds[p][0], end: d.bounds[p][1], step: 1 };
      case 'text':
        return { op: 'text', ...d.splits[p], encoding: d.encoding };
      case 'parquet':
        return { op: 'parquet', pieces: d.parts[p], columns: d.columns };
      case 'sql':
        return { op: 'sql', ...d.source, partition: p };
      case 'narrow':
        return { op: d.op, fn: d.fn, args: d.args, partition: p, parent: d.parent.plan(p) };
      case 'glom':
        return { op: 'glom', parent: d.parent.plan(p) };
      case 'sample':
        return { op: 'sample', fraction: d.fraction, seed: d.seed, partition: p, parent: d.parent.plan(p) };
      case 'zip':
        return { op: 'zip', left: d.left.plan(p), right: d.right.plan(p), partition: p };
      case 'union': {
        const [i, q] = d.index[p];
        return d.parents[i].plan(q);
      }
    }
  }

  private materialized(p: number): string[] {
    if (!this.keys) throw new Error(`internal: dataset #${this.id} used before it was prepared`);
    return this.keys[p];
  }

  /** The worker holding a cached partition this task would read (a scheduling hint). */
  private preferred(p: number): string | undefined {
    if (this.cached) {
      const w = this.host.cacheLocations.get(this.cacheKey(p));
      if (w !== undefined) return w;
    }
    const d = this.dep;
    switch (d.kind) {
      case 'narrow': case 'glom': case 'sample': return d.parent.preferred(p);
      case 'zip': return d.left.preferred(p) ?? d.right.preferred(p);
      case 'union': {
        const [i, q] = d.index[p];
        return d.parents[i].preferred(q);
      }
      default: return undefined;
    }
  }

  private taskSpec(stageId: string, p: number, action: Action): TaskSpec {
    const spec: TaskSpec = {
      id: `${stageId}/part-${p}`,
      fn: DATASET_TASK,
      partition: p,
      args: { plan: this.plan(p), action } as unknown as Json,
    };
    const w = this.preferred(p);
    if (w !== undefined) spec.preferredWorker = w;
    return spec;
  }

  /** Forgets cache locations on workers that are gone. */
  private async pruneLostCache(): Promise<void> {
    const locs = this.host.cacheLocations;
    if (locs.size === 0) return;
    const alive = new Set((await this.host.cluster.workers()).map((w) => w.id));
    for (const [k, w] of locs) if (!alive.has(w)) locs.delete(k);
  }

  private async run(parts: number[], action: (p: number, stageId: string) => Action, what: string): Promise<DatasetTaskResult[]> {
    this.host.checkOpen(what);
    await this.prepare();
    await this.pruneLostCache();
    const stageId = `${this.host.keyPrefix}/stage-${this.host.newId()}-${what}`;
    const tasks = parts.map((p) => this.taskSpec(stageId, p, action(p, stageId)));
    return this.runStage(stageId, tasks, what);
  }

  private async runStage(stageId: string, tasks: TaskSpec[], what: string): Promise<DatasetTaskResult[]> {
    this.host.checkOpen(what);
    let results;
    try {
      results = await this.host.cluster.runStage({ id: stageId, tasks, maxAttempts: this.host.maxAttempts, taskTimeoutMs: this.host.taskTimeoutMs });
    } catch (e) {
      const err = new Error(`${what} failed: ${(e as Error).message}`, { cause: e });
      throw err;
    }
    const out: DatasetTaskResult[] = [];
    for (const r of results) {
      const v = r.value as unknown as DatasetTaskResult;
      for (const key of v.cached) this.host.cacheLocations.set(key, r.worker);
      out.push(v);
    }
    return out;
  }
}

/** A CSV source: also reports the readers' counts (records, malformed records skipped). */
export class CsvDataset<T> extends PartitionedDataset<T> {
  /** Reads the files if no action did yet, and returns the counts summed over files. */
  async csvStats(): Promise<CsvStats> {
    await this.prepare();
    const s = this.csvStatsValue!;
    return { ...s, reasons: s.reasons.slice() };
  }
}

/** @internal builders used by EngineContext */
export const sourceDeps = {
  array(items: readonly unknown[], partitions: number): Dep {
    const parts: Uint8Array[] = [];
    const n = items.length;
    for (let p = 0; p < partitions; p++) {
      parts.push(serializeItems(items.slice(Math.floor((p * n) / partitions), Math.floor(((p + 1) * n) / partitions)), 'parallelize'));
    }
    return { kind: 'array', parts };
  },
  range(n: number, partitions: number): Dep {
    return { kind: 'range', bounds: range(partitions).map((p) => [Math.floor((p * n) / partitions), Math.floor(((p + 1) * n) / partitions)]) };
  },
  text(splits: TextSplit[], encoding: string): Dep {
    return { kind: 'text', splits, encoding };
  },
  csv(files: string[], parts: number[], options: Json, arrays: boolean): Dep {
    return { kind: 'csv', files, parts, options, arrays };
  },
  parquet(files: string[], parts: ParquetPiece[][], columns: string[] | null): Dep {
    return { kind: 'parquet', files, parts, columns };
  },
  sql(source: SqlSource): Dep {
    return { kind: 'sql', source };
  },
};

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

function checkPartitions(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${what}: the number of partitions must be a positive integer, got ${n}`);
}

function checkSeed(seed: number, what: string): void {
  if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new RangeError(`${what}: seed must be a finite number, got ${seed}`);
}

/** args must be JSON: they travel in task specs. */
function checkArgs(args: unknown, what: string): Json {
  if (args === undefined) return null;
  const bad = nonJson(args, 'args');
  if (bad) throw new TypeError(`${what}: args must be JSON (numbers, strings, booleans, null, arrays, plain objects): ${bad}; large data goes in a dataset or a block`);
  return args as Json;
}

function nonJson(v: unknown, path: string): string | null {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return null;
  if (typeof v === 'number') return Number.isFinite(v) ? null : `${path} is ${v}`;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const b = nonJson(v[i], `${path}[${i}]`);
      if (b) return b;
    }
    return null;
  }
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return `${path} is a ${(v as object).constructor?.name ?? 'non-plain object'}`;
    for (const [k, x] of Object.entries(v as object)) {
      const b = nonJson(x, `${path}.${k}`);
      if (b) return b;
    }
    return null;
  }
  return `${path} is a ${typeof v}`;
}
