// Task functions for test/engine/redis-cluster.test.ts: workers import this module by URL.
import { shippable } from '../../src/engine/cluster/ship.js';
import type { Json, TaskContext } from '../../src/engine/cluster/types.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const obj = (args: Json) => (args ?? {}) as Record<string, Json>;

/** { x, ms? } -> { y: x*x, worker }; records `started:{taskId}` = worker id in the block store first. */
export async function square(ctx: TaskContext, args: Json): Promise<Json> {
  const { x, ms, mark } = obj(args) as { x: number; ms?: number; mark?: boolean };
  if (mark) await ctx.blocks.put(`started:${ctx.taskId}`, new TextEncoder().encode(ctx.workerId));
  if (ms) await sleep(ms);
  return { y: x * x, worker: ctx.workerId, partition: ctx.partition };
}

/** Always throws, naming the task. */
export function boom(ctx: TaskContext): Json {
  throw new Error(`boom in ${ctx.taskId} on purpose`);
}

/** Throws on its first `failures` runs (counted in the block store), then returns 'ok'. */
export async function flaky(ctx: TaskContext, args: Json): Promise<Json> {
  const { failures } = obj(args) as { failures: number };
  const key = `count:${ctx.taskId}`;
  const prev = await ctx.blocks.get(key);
  const n = prev ? prev[0] : 0;
  await ctx.blocks.put(key, Uint8Array.of(n + 1));
  if (n < failures) throw new Error(`flaky failure ${n + 1}`);
  return { runs: n + 1 };
}

/** Reads block `key`, checks its pattern, writes a derived block: a worker-side block store round trip. */
export async function checksum(ctx: TaskContext, args: Json): Promise<Json> {
  const { key, out } = obj(args) as { key: string; out: string };
  const v = await ctx.blocks.get(key);
  if (!v) throw new Error(`block ${key} missing`);
  let sum = 0;
  for (let i = 0; i < v.length; i += 4096) sum = (sum + v[i] * (i % 251)) % 1_000_000_007;
  const f = new Float32Array(v.buffer, v.byteOffset, Math.floor(v.byteLength / 4));
  await ctx.blocks.put(out, new Uint8Array(f.buffer, f.byteOffset, 1024 * 4));
  return { sum, length: v.length };
}

/** Returns its args and values JSON could not carry: they travel as structured clones, as on local[N]. */
export function echo(ctx: TaskContext, args: Json): Json {
  return { args, nan: NaN, inf: -Infinity, f32: new Float32Array([1.5, -2]), map: new Map([['k', 1]]), when: new Date(0) } as unknown as Json;
}

export const fns = shippable(import.meta.url, { square, boom, flaky, checksum, echo });
