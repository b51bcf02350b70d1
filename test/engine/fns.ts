// Shippable functions for the engine tests: workers import this module by URL.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shippable } from '../../src/engine/cluster/ship.js';
import type { Json, TaskContext } from '../../src/engine/cluster/types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- dataset functions ----
export const double = (x: number): number => x * 2;
export const isEven = (x: number): boolean => x % 2 === 0;
export const add = (a: number, b: number): number => a + b;
export const max = (a: number, b: number): number => Math.max(a, b);
export const scale = (x: number, args: { factor: number }): number => x * args.factor;
export const asyncInc = async (x: number): Promise<number> => {
  await Promise.resolve();
  return x + 1;
};
export const words = (line: string): string[] => line.split(/\s+/).filter((w) => w.length > 0);
export const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
export const notRatingsHeader = (line: string): boolean => !line.startsWith('userId,');
export const ratingOf = (line: string): number => Number(line.split(',')[2]);
export const categoryOf = (row: { category: string }): string => row.category;
export const textLength = (row: { text: string }): number => row.text.length;
export const boom = (x: number, args: { at: number }): number => {
  if (x === args.at) throw new Error(`boom at item ${x}`);
  return x;
};
export const tagPid = (x: number): { x: number; pid: number } => ({ x, pid: process.pid });
export const toFloat32 = (x: number): Float32Array => new Float32Array([x, x + 0.5]);
export const sumPair = (p: [number, number]): number => p[0] + p[1];
export const slowPartition = async (items: number[], args: { ms: number }): Promise<number[]> => {
  await sleep(args.ms);
  return items;
};
export const partitionSums = (items: number[], _args: Json, info: { partition: number }): number[][] => [[info.partition, items.reduce((a, b) => a + b, 0)]];
export const writePartitionSum = (items: number[], args: { dir: string }, info: { partition: number }): void => {
  writeFileSync(join(args.dir, `sum-${info.partition}`), String(items.reduce((a, b) => a + b, 0)));
};
export const returnsString = (x: string): string => x;

// ---- raw task functions (TaskFn: (ctx, args)) ----
export const whoAmI = (ctx: TaskContext): Json => ({ worker: ctx.workerId, pid: process.pid, partition: ctx.partition });
export const countCalls = (ctx: TaskContext): Json => {
  const n = ((ctx.cache.get('calls') as number | undefined) ?? 0) + 1;
  ctx.cache.set('calls', n);
  return { worker: ctx.workerId, calls: n };
};
export const failTask = (ctx: TaskContext, args: Json): Json => {
  throw new Error(`task ${ctx.partition} refuses: ${(args as { why: string }).why}`);
};
/** fails on its first attempt (a marker file remembers it across workers), then succeeds */
export const flakyTask = (ctx: TaskContext, args: Json): Json => {
  const marker = join((args as { dir: string }).dir, `tried-${ctx.partition}`);
  if (!existsSync(marker)) {
    writeFileSync(marker, ctx.workerId);
    throw new Error('first attempt fails');
  }
  return ctx.partition;
};
export const sleepTask = async (ctx: TaskContext, args: Json): Promise<Json> => {
  await sleep((args as { ms: number }).ms);
  return { partition: ctx.partition, worker: ctx.workerId, pid: process.pid };
};
export const hangTask = (): Promise<Json> => new Promise(() => {});
export const blockTask = async (ctx: TaskContext, args: Json): Promise<Json> => {
  const { inKey, outKey } = args as { inKey: string; outKey: string };
  const v = await ctx.blocks.get(inKey);
  if (!v) throw new Error(`no block ${inKey}`);
  const out = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = (v[i] + 1) & 255;
  await ctx.blocks.put(outKey, out);
  return v.length;
};

export const fns = shippable(import.meta.url, {
  double, isEven, add, max, scale, asyncInc, words, upTo, notRatingsHeader, ratingOf, categoryOf, textLength, boom,
  tagPid, toFloat32, sumPair, slowPartition, partitionSums, writePartitionSum, returnsString,
  whoAmI, countCalls, failTask, flakyTask, sleepTask, hangTask, blockTask,
});
