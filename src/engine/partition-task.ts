/**
 * The worker side of partitioned datasets: one task function (`datasetTask`) that computes a
 * partition by walking its lineage plan from the source, then performs an action on it (count,
 * collect, take, reduce, foreachPartition, save, or the write side of a shuffle).
 *
 * A plan is plain JSON made by the driver for one partition (./dataset.ts): sources resolved to the
 * one split or block list that partition needs, transforms as FnRefs with their JSON args. Items
 * flow through the plan in chunks (arrays), so a transform costs one call per item and one
 * `await` per chunk, not per item (unless the function itself returns a promise).
 *
 * Items are structured-clone values (numbers, strings, booleans, null, plain objects and arrays,
 * typed arrays, Maps, Sets, Dates); they cross processes with v8.serialize: class instances arrive
 * as plain objects, functions are refused. Samples and Tensors (also inside arrays: zip pairs,
 * glom groups) are the exception: ./item-codec.ts carries them as themselves.
 */
import { mkdir, open, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { readCsv, readCsvRows, type CsvOptions, type CsvStats } from '../data/csv.js';
import { epochGenerator } from '../data/seed.js';
import { Tensor } from '../tensor/tensor.js';
import { Sample } from '../data/sample.js';
import { fnRef, loadFn } from './cluster/ship.js';
import type { BlockStore, FnRef, Json, TaskContext } from './cluster/types.js';
import type { PartitionInfo } from './dataset.js';
import { decodeItems, encodeItems } from './item-codec.js';
import type { ParquetPiece, SqlSource } from './sources.js';

/** The reference workers use to run dataset tasks. */
export const DATASET_TASK: FnRef = fnRef(import.meta.url, 'datasetTask');

/** Items per chunk produced by sources. */
const CHUNK = 4096;
/** Values up to this many serialized bytes travel inline in the task result; larger go through the block store. */
const INLINE_MAX = 256 * 1024;

/** One partition's lineage, as the task sees it. */
export type Plan =
  | { op: 'blocks'; keys: string[] }
  | { op: 'range'; start: number; end: number; step: number }
  | { op: 'text'; path: string; start: number; end: number; encoding: string }
  | { op: 'csv'; path: string; options: Json; arrays: boolean }
  | { op: 'parquet'; pieces: ParquetPiece[]; columns: string[] | null }
  | ({ op: 'sql'; partition: number } & SqlSource)
  | { op: 'map' | 'filter' | 'flatMap' | 'mapPartitions'; fn: FnRef; args: Json; partition: number; parent: Plan }
  | { op: 'glom'; parent: Plan }
  | { op: 'sample'; fraction: number; seed: number; partition: number; parent: Plan }
  | { op: 'zip'; left: Plan; right: Plan; partition: number }
  | { op: 'cache'; key: string; parent: Plan }
  | { op: 'localShuffle'; seed: number; partition: number; parent: Plan };

/** What a dataset task does with its partition. */
export type Action =
  | { kind: 'count' }
  | { kind: 'collect'; resultKey: string }
  | { kind: 'take'; n: number; resultKey: string }
  | { kind: 'reduce'; fn: FnRef; resultKey: string }
  | { kind: 'foreach'; fn: FnRef; args: Json }
  | { kind: 'save'; dir: string }
  | { kind: 'exchange'; mode: 'roundRobin' | 'random' | 'contiguous'; outputs: number; seed: number; keyPrefix: string }
  | { kind: 'evict'; keys: string[] };

export interface DatasetTaskArgs {
  plan: Plan;
  action: Action;
}

/** What every dataset task returns: the action's value and the cache keys this task filled. */
export interface DatasetTaskResult {
  value: Json;
  cached: string[];
  /** CSV sources report their reader's counts (malformed records skipped...) */
  csv?: CsvStats[];
}

/** A value moved through a task result: inline (base64 of v8.serialize) or in a block. */
export type Packed = { b64: string } | { block: string };

interface Env {
  ctx: TaskContext;
  cached: string[];
  csv: CsvStats[];
}

/** The task function: computes `args.plan` and performs `args.action`. */
export async function datasetTask(ctx: TaskContext, rawArgs: Json): Promise<Json> {
  const { plan, action } = rawArgs as unknown as DatasetTaskArgs;
  const env: Env = { ctx, cached: [], csv: [] };
  const value = await perform(action, plan, env);
  const out: DatasetTaskResult = { value, cached: env.cached };
  if (env.csv.length) out.csv = env.csv;
  return out as unknown as Json;
}

async function perform(action: Action, plan: Plan, env: Env): Promise<Json> {
  const { ctx } = env;
  switch (action.kind) {
    case 'count': {
      let n = 0;
      for await (const c of chunks(plan, env)) n += c.length;
      return n;
    }
    case 'collect':
      return pack(await gather(plan, env), ctx.blocks, action.resultKey);
    case 'take': {
      const out: unknown[] = [];
      if (action.n > 0) {
        for await (const c of chunks(plan, env)) {
          for (let i = 0; i < c.length && out.length < action.n; i++) out.push(c[i]);
          if (out.length >= action.n) break;
        }
      }
      return pack(out, ctx.blocks, action.resultKey);
    }
    case 'reduce': {
      const fn = await userFn(action.fn);
      let acc: unknown;
      let empty = true;
      for await (const c of chunks(plan, env)) {
        let i = 0;
        if (empty) {
          acc = c[0];
          empty = false;
          i = 1;
        }
        for (; i < c.length; i++) {
          try {
            acc = fn(acc, c[i]);
            if (isThenable(acc)) acc = await acc;
          } catch (e) {
            throw userError(e, 'reduce', action.fn, ctx.partition);
          }
        }
      }
      return empty ? { empty: true } : { value: await pack(acc, ctx.blocks, action.resultKey) };
    }
    case 'foreach': {
      const fn = await userFn(action.fn);
      const items = await gather(plan, env);
      try {
        await fn(items, action.args, info(ctx));
      } catch (e) {
        throw userError(e, 'foreachPartition', action.fn, ctx.partition);
      }
      return items.length;
    }
    case 'save': {
      const lines: string[] = [];
      for await (const c of chunks(plan, env)) for (const x of c) lines.push(toLine(x));
      const file = join(action.dir, `part-${String(ctx.partition).padStart(5, '0')}`);
      const tmp = join(dirname(file), `.${basename(file)}.${ctx.workerId}.tmp`);
      await mkdir(action.dir, { recursive: true });
      await writeFile(tmp, lines.length ? lines.join('\n') + '\n' : '');
      await rename(tmp, file);
      return lines.length;
    }
    case 'exchange':
      return exchange(action, plan, env);
    case 'evict': {
      let n = 0;
      for (const k of action.keys) if (ctx.cache.delete(k)) n++;
      return n;
    }
    default:
      throw new Error(`dataset task: unknown action ${(action as { kind: string }).kind}`);
  }
}

/** Write side of a shuffle: the partition's items cut into `outputs` buckets, one block each. */
async function exchange(action: Extract<Action, { kind: 'exchange' }>, plan: Plan, env: Env): Promise<Json> {
  const { ctx } = env;
  const n = action.outputs;
  const buckets: unknown[][] = Array.from({ length: n }, () => []);
  let count = 0;
  if (action.mode === 'contiguous') {
    const items = await gather(plan, env);
    count = items.length;
    for (let r = 0; r < n; r++) buckets[r] = items.slice(Math.floor((r * count) / n), Math.floor(((r + 1) * count) / n));
  } else if (action.mode === 'roundRobin') {
    let next = ctx.partition % n;
    for await (const c of chunks(plan, env)) {
      for (const x of c) {
        buckets[next].push(x);
        if (++next === n) next = 0;
      }
      count += c.length;
    }
  } else {
    const rng = epochGenerator(action.seed, ctx.partition, 'dataset.shuffle.scatter');
    for await (const c of chunks(plan, env)) {
      for (const x of c) buckets[Math.floor(rng.random() * n)].push(x);
      count += c.length;
    }
  }
  await Promise.all(buckets.map((b, r) => ctx.blocks.put(`${action.keyPrefix}/${ctx.partition}/${r}`, serializeItems(b, 'exchange'))));
  return { count, sizes: buckets.map((b) => b.length) };
}

const info = (ctx: TaskContext): PartitionInfo =>
  ({ partition: ctx.partition, workerId: ctx.workerId, taskId: ctx.taskId, cores: ctx.cores, blocks: ctx.blocks, cache: ctx.cache });

// ---- computing a partition ----

/** The partition's items as chunks (non-empty arrays). */
export async function* chunks(plan: Plan, env: Env): AsyncGenerator<unknown[]> {
  switch (plan.op) {
    case 'blocks': {
      for (const key of plan.keys) {
        const bytes = await env.ctx.blocks.get(key);
        if (bytes === undefined) throw new Error(`block ${key} is missing from the block store (was its dataset's context closed?)`);
        const items = deserializeItems(bytes) as unknown[];
        yield* slices(items);
      }
      return;
    }
    case 'range': {
      const { start, end, step } = plan;
      const n = Math.max(0, Math.ceil((end - start) / step));
      for (let i = 0; i < n; i += CHUNK) {
        const m = Math.min(CHUNK, n - i);
        const c = new Array<number>(m);
        for (let j = 0; j < m; j++) c[j] = start + (i + j) * step;
        yield c;
      }
      return;
    }
    case 'text':
      yield* readTextSplit(plan.path, plan.start, plan.end, plan.encoding as BufferEncoding);
      return;
    case 'csv': {
      const reader = plan.arrays ? readCsvRows(plan.path, plan.options as CsvOptions) : readCsv(plan.path, plan.options as CsvOptions);
      let c: unknown[] = [];
      for await (const row of reader) {
        c.push(row);
        if (c.length === CHUNK) {
          yield c;
          c = [];
        }
      }
      if (c.length) yield c;
      env.csv.push({ ...reader.stats, reasons: reader.stats.reasons.slice() });
      return;
    }
    case 'parquet': {
      // loaded on first use: workers that never read parquet (or SQL) do not load the readers
      const { readParquetPieces } = await import('./sources-parquet.js');
      yield* rechunk(readParquetPieces(plan.pieces, plan.columns));
      return;
    }
    case 'sql': {
      const { readSqlPartition } = await import('./sources-sql.js');
      const { partition, query, params, partitions, cwd } = plan;
      yield* rechunk(readSqlPartition(partition, { query, params, partitions, cwd }));
      return;
    }
    case 'map': {
      const fn = await userFn(plan.fn);
      const args = plan.args;
      for await (const c of chunks(plan.parent, env)) {
        const out = new Array(c.length);
        for (let i = 0; i < c.length; i++) {
          const x = c[i];
          let r: unknown;
          try {
            r = args === null ? fn(x) : fn(x, args);
            if (isThenable(r)) r = await r;
          } catch (e) {
            throw userError(e, 'map', plan.fn, plan.partition);
          }
          out[i] = r;
        }
        yield out;
      }
      return;
    }
    case 'filter': {
      const fn = await userFn(plan.fn);
      const args = plan.args;
      for await (const c of chunks(plan.parent, env)) {
        const out: unknown[] = [];
        for (let i = 0; i < c.length; i++) {
          const x = c[i];
          let keep: unknown;
          try {
            keep = args === null ? fn(x) : fn(x, args);
            if (isThenable(keep)) keep = await keep;
          } catch (e) {
            throw userError(e, 'filter', plan.fn, plan.partition);
          }
          if (keep) out.push(x);
        }
        if (out.length) yield out;
      }
      return;
    }
    case 'flatMap': {
      const fn = await userFn(plan.fn);
      const args = plan.args;
      for await (const c of chunks(plan.parent, env)) {
        const out: unknown[] = [];
        for (let i = 0; i < c.length; i++) {
          const x = c[i];
          let r: unknown;
          try {
            r = args === null ? fn(x) : fn(x, args);
            if (isThenable(r)) r = await r;
          } catch (e) {
            throw userError(e, 'flatMap', plan.fn, plan.partition);
          }
          if (Array.isArray(r)) {
            for (let j = 0; j < r.length; j++) out.push(r[j]);
          } else if (r !== null && typeof r === 'object' && typeof (r as Iterable<unknown>)[Symbol.iterator] === 'function') {
            for (const y of r as Iterable<unknown>) out.push(y);
          } else {
            throw new Error(`flatMap(${fnName(plan.fn)}) on partition ${plan.partition}: the function must return an array (or another iterable object), got ${typeName(r)}`);
          }
          if (out.length >= CHUNK) {
            yield out.splice(0, out.length);
          }
        }
        if (out.length) yield out;
      }
      return;
    }
    case 'mapPartitions': {
      const fn = await userFn(plan.fn);
      const items = await gather(plan.parent, env);
      let r: unknown;
      try {
        r = fn(items, plan.args, info(env.ctx));
        if (isThenable(r)) r = await r;
      } catch (e) {
        throw userError(e, 'mapPartitions', plan.fn, plan.partition);
      }
      if (Array.isArray(r)) {
        yield* slices(r);
      } else if (r !== null && typeof r === 'object' && (Symbol.asyncIterator in r || Symbol.iterator in r)) {
        let c: unknown[] = [];
        for await (const y of r as AsyncIterable<unknown>) {
          c.push(y);
          if (c.length === CHUNK) {
            yield c;
            c = [];
          }
        }
        if (c.length) yield c;
      } else {
        throw new Error(`mapPartitions(${fnName(plan.fn)}) on partition ${plan.partition}: the function must return an array or an (async) iterable, got ${typeName(r)}`);
      }
      return;
    }
    case 'glom':
      yield [await gather(plan.parent, env)];
      return;
    case 'sample': {
      const rng = epochGenerator(plan.seed, plan.partition, 'dataset.sample');
      const f = plan.fraction;
      for await (const c of chunks(plan.parent, env)) {
        const out: unknown[] = [];
        for (let i = 0; i < c.length; i++) if (rng.random() < f) out.push(c[i]);
        if (out.length) yield out;
      }
      return;
    }
    case 'zip':
      yield* zipChunks(plan, env);
      return;
    case 'cache': {
      const hit = env.ctx.cache.get(plan.key);
      if (Array.isArray(hit)) {
        yield* slices(hit);
        return;
      }
      // cached only once the whole partition went through (take() may stop early)
      const all: unknown[] = [];
      for await (const c of chunks(plan.parent, env)) {
        for (let i = 0; i < c.length; i++) all.push(c[i]);
        yield c;
      }
      env.ctx.cache.set(plan.key, all);
      env.cached.push(plan.key);
      return;
    }
    case 'localShuffle': {
      const items = await gather(plan.parent, env);
      const rng = epochGenerator(plan.seed, plan.partition, 'dataset.shuffle.local');
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(rng.random() * (i + 1));
        const t = items[i];
        items[i] = items[j];
        items[j] = t;
      }
      yield* slices(items);
      return;
    }
    default:
      throw new Error(`dataset task: unknown plan node ${(plan as { op: string }).op}`);
  }
}

/**
 * Computes a partition's items inside a task of another kind (DistriOptimizer's forward-backward):
 * the items stay objects of this process (class instances such as Samples survive), and `cached`
 * lists the cache keys filled, for the driver's `noteCached`.
 */
export async function computePartition(ctx: TaskContext, plan: Plan): Promise<{ items: unknown[]; cached: string[] }> {
  const env: Env = { ctx, cached: [], csv: [] };
  const items = await gather(plan, env);
  return { items, cached: env.cached };
}

async function gather(plan: Plan, env: Env): Promise<unknown[]> {
  let out: unknown[] | null = null;
  for await (const c of chunks(plan, env)) {
    if (out === null) out = c.slice();
    else for (let i = 0; i < c.length; i++) out.push(c[i]);
  }
  return out ?? [];
}

/** Items one at a time as chunks of up to CHUNK. */
async function* rechunk(items: AsyncIterable<unknown>): AsyncGenerator<unknown[]> {
  let c: unknown[] = [];
  for await (const x of items) {
    c.push(x);
    if (c.length === CHUNK) {
      yield c;
      c = [];
    }
  }
  if (c.length) yield c;
}

function* slices(items: unknown[]): Generator<unknown[]> {
  if (items.length <= CHUNK) {
    if (items.length) yield items.slice();
    return;
  }
  for (let i = 0; i < items.length; i += CHUNK) yield items.slice(i, i + CHUNK);
}

async function* zipChunks(plan: Extract<Plan, { op: 'zip' }>, env: Env): AsyncGenerator<unknown[]> {
  const left = chunks(plan.left, env);
  const right = chunks(plan.right, env);
  let lb: unknown[] = [], li = 0, rb: unknown[] = [], ri = 0;
  let nLeft = 0, nRight = 0;
  let lDone = false, rDone = false;
  try {
    for (;;) {
      if (li === lb.length && !lDone) {
        const r = await left.next();
        if (r.done) lDone = true;
        else {
          lb = r.value;
          li = 0;
          nLeft += lb.length;
        }
      }
      if (ri === rb.length && !rDone) {
        const r = await right.next();
        if (r.done) rDone = true;
        else {
          rb = r.value;
          ri = 0;
          nRight += rb.length;
        }
      }
      const lHas = li < lb.length, rHas = ri < rb.length;
      if (!lHas && !rHas && lDone && rDone) return;
      if (lHas && rHas) {
        const m = Math.min(lb.length - li, rb.length - ri);
        const out = new Array(m);
        for (let k = 0; k < m; k++) out[k] = [lb[li + k], rb[ri + k]];
        li += m;
        ri += m;
        yield out;
      } else if ((lDone && !lHas) || (rDone && !rHas)) {
        // one side ran out: count the rest of the other for the message
        for (;;) {
          const r = await (lDone ? right : left).next();
          if (r.done) break;
          if (lDone) nRight += r.value.length;
          else nLeft += r.value.length;
        }
        throw new Error(`zip: partition ${plan.partition} has ${nLeft} items on the left and ${nRight} on the right; ` +
          'zip needs the same number of items in each partition (zip datasets derived from one another by map, not filter/flatMap/sample)');
      }
    }
  } finally {
    await left.return(undefined);
    await right.return(undefined);
  }
}

/**
 * The lines of the byte range [start, end) of a file, split on line boundaries like Hadoop's
 * LineRecordReader: a range owns every line that *starts* inside it (a line starts at byte 0 or
 * after a '\n'), reading past `end` to finish its last line. CRLF and a leading BOM are handled;
 * the encoding must keep '\n' a single byte (utf8, latin1, ascii).
 */
export async function* readTextSplit(path: string, start: number, end: number, encoding: BufferEncoding = 'utf8'): AsyncGenerator<string[]> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new Error(`textFile ${path}: ${(e as Error).message}`);
  }
  try {
    const buf = Buffer.allocUnsafe(1 << 16);
    // the line at `start` is ours only if it starts there: read from start-1 and skip through the first '\n'
    let pos = start > 0 ? start - 1 : 0;
    let skipping = start > 0;
    let carry: Buffer | null = null; // bytes of an unfinished line
    let lineStart = start; // absolute position where the carried / next line starts
    let first = start === 0;
    for (;;) {
      if (!skipping && carry === null && lineStart >= end) return;
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      const b = buf.subarray(0, bytesRead);
      const off = pos;
      pos += bytesRead;
      let i = 0;
      if (skipping) {
        const nl = b.indexOf(10);
        if (nl < 0) continue;
        skipping = false;
        i = nl + 1;
        lineStart = off + i;
        if (lineStart >= end) return;
      }
      // the last line we own ends at the first '\n' at or after end-1
      const limit = Math.max(i, end - 1 - off);
      const stop = limit < b.length ? b.indexOf(10, limit) : -1;
      const lastNl = stop >= 0 ? stop : b.lastIndexOf(10);
      if (lastNl < i) {
        carry = carry ? Buffer.concat([carry, b.subarray(i)]) : Buffer.from(b.subarray(i));
        continue;
      }
      const bytes = carry ? Buffer.concat([carry, b.subarray(i, lastNl)]) : b.subarray(i, lastNl);
      carry = null;
      let text = bytes.toString(encoding);
      if (first) {
        first = false;
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      const lines = text.split('\n');
      for (let k = 0; k < lines.length; k++) {
        const l = lines[k];
        if (l.length > 0 && l.charCodeAt(l.length - 1) === 13) lines[k] = l.slice(0, -1);
      }
      yield lines;
      if (stop >= 0) return;
      lineStart = off + lastNl + 1;
      if (lastNl + 1 < b.length) carry = Buffer.from(b.subarray(lastNl + 1));
    }
    if (carry && lineStart < end) {
      let text = carry.toString(encoding);
      if (first && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (text.endsWith('\r')) text = text.slice(0, -1);
      if (text.length > 0) yield [text];
    }
  } finally {
    await fh.close();
  }
}

// ---- user functions ----

const loadedFns = new Map<string, Promise<(...a: unknown[]) => unknown>>();

function userFn(ref: FnRef): Promise<(...a: unknown[]) => unknown> {
  const key = `${ref.module}#${ref.exportName}`;
  let p = loadedFns.get(key);
  if (!p) {
    p = loadFn<(...a: unknown[]) => unknown>(ref);
    loadedFns.set(key, p);
    p.catch(() => loadedFns.delete(key));
  }
  return p;
}

function userError(e: unknown, op: string, ref: FnRef, partition: number): Error {
  const msg = e instanceof Error ? e.message : String(e);
  const err = new Error(`${op}(${fnName(ref)}) failed on partition ${partition}: ${msg}`);
  if (e instanceof Error && e.stack) err.stack = `${err.message}\n${e.stack.split('\n').slice(1).join('\n')}`;
  return err;
}

function fnName(ref: FnRef): string {
  const m = /([^/]+?)(\.[cm]?[jt]s)?$/.exec(ref.module);
  return `${ref.exportName} from ${m ? m[1] : ref.module}`;
}

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as PromiseLike<unknown>).then === 'function';

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

function toLine(x: unknown): string {
  if (typeof x === 'string') return x;
  if (typeof x === 'number' || typeof x === 'boolean' || typeof x === 'bigint') return String(x);
  if (ArrayBuffer.isView(x)) return JSON.stringify(Array.from(x as unknown as ArrayLike<number>));
  return JSON.stringify(x, lineValue) ?? String(x);
}

/** Tensors as nested arrays (a prediction saves as `[0.1,0.9]`), Samples as { features, label }, not as their fields. */
function lineValue(_key: string, v: unknown): unknown {
  if (v instanceof Tensor) return v.toNested();
  if (v instanceof Sample) return { features: v.features, label: v.label };
  return v;
}

// ---- moving values ----

/** v8.serialize (Samples and Tensors through ./item-codec.ts) with an error that says which values cannot travel. */
export function serializeItems(value: unknown, what: string): Uint8Array {
  try {
    return serialize(encodeItems(value));
  } catch (e) {
    throw new Error(`${what}: the items cannot be sent between processes (${(e as Error).message}); ` +
      'items must be structured-clone values: numbers, strings, plain objects and arrays, typed arrays (no functions)');
  }
}

export async function pack(value: unknown, blocks: BlockStore, key: string): Promise<Json> {
  const bytes = serializeItems(value, 'result');
  if (bytes.byteLength <= INLINE_MAX) return { b64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
  await blocks.put(key, bytes);
  return { block: key };
}

/** The inverse of serializeItems. */
export function deserializeItems(bytes: Uint8Array): unknown {
  return decodeItems(deserialize(bytes));
}

export async function unpack(packed: Json, blocks: BlockStore): Promise<unknown> {
  const p = packed as unknown as Packed;
  if ('b64' in p) return deserializeItems(Buffer.from(p.b64, 'base64'));
  const bytes = await blocks.get(p.block);
  if (bytes === undefined) throw new Error(`result block ${p.block} is missing from the block store`);
  await blocks.delete([p.block]);
  return deserializeItems(bytes);
}
