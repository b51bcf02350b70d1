/**
 * `npm run bench -- scaling`: DistriOptimizer (BigDL's Algorithm 1) with 1, 2, 4 and 8 workers on
 * the local[N] and redis:// engines, LeNet-5 on Fashion-MNIST and Inception-v1 on a small batch of
 * real photos: per-iteration compute (forward-backward stage) and parameter-sync times, the sync
 * share of the iteration, the driver's scheduling overhead when DistriOptimizer records it, and
 * throughput (global samples / wall time per iteration), with group scheduling (K iterations per
 * submission, as Drizzle does for Spark) for K = 1 and 10. Weak scaling: the batch per worker is
 * fixed, so the global batch grows with the workers, as in BigDL's scaling runs.
 *
 * The Redis engine's workers run in network namespaces with rate-limited links when the machine
 * allows it (root, iproute2), else on loopback; see ./scaling-net.ts.
 */
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { Redis } from 'ioredis';
import type { ChildProcess } from 'node:child_process';
import { RNG } from '../src/tensor/random.js';
import { LeNet5 } from '../src/models/lenet.js';
import { InceptionV1 } from '../src/models/inception.js';
import { ClassNLLCriterion } from '../src/nn/criterion.js';
import type { Module } from '../src/nn/module.js';
import { SGD } from '../src/optim/sgd.js';
import { Trigger } from '../src/optim/trigger.js';
import { Engine } from '../src/engine/engine.js';
import type { EngineContext } from '../src/engine/context.js';
import { DistriOptimizer, type DistriOptimizerConfig } from '../src/engine/distri-optimizer.js';
import { UsageError } from './harness.js';
import { formatTable, fmt } from './table.js';
import { fns, type ImageRecord } from './scaling-fns.js';
import { fashionMnist, inceptionImages, type BenchData } from './scaling-data.js';
import { freePort } from '../test/engine/redis-server.js';
import { RedisProc, loopback, namespaces, onExit, startWorker, stopProcess, type Topology } from './scaling-net.js';

const OPTIONS = ['--models', '--workers', '--engines', '--groups', '--inception-groups', '--iterations', '--lenet-batch', '--inception-batch', '--link', '--delay', '--no-netns'];

type ModelKey = 'lenet' | 'inception';
type EngineKey = 'local' | 'redis';

interface ModelSpec {
  key: ModelKey;
  name: string;
  perWorker: number;
  /** iterations skipped before measuring (at least K: the first group) */
  warm: number;
  measured: number;
  groups: number[];
  /** samples parallelized per worker (at most; the data set may be smaller) */
  perPartition: number;
  build: () => Module<any, any>;
  data: () => BenchData;
}

interface Row {
  model: string; params: number; engine: EngineKey; workers: number; k: number; kHonoured: boolean; batch: number;
  computeMs: number; syncMs: number; scheduleMs: number | undefined; iterMs: number; error?: string;
}

function list(args: readonly string[], name: string, fallback: string): string[] {
  const i = args.indexOf(`--${name}`);
  const v = i < 0 ? fallback : args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new UsageError(`--${name} needs a value`);
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

function ints(args: readonly string[], name: string, fallback: string): number[] {
  return list(args, name, fallback).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name}: '${s}' is not a positive integer`);
    return n;
  });
}

function oneOf<T extends string>(args: readonly string[], name: string, fallback: string, allowed: readonly T[]): T[] {
  return list(args, name, fallback).map((s) => {
    if (!allowed.includes(s as T)) throw new UsageError(`--${name}: '${s}' is not one of ${allowed.join(', ')}`);
    return s as T;
  });
}

const median = (xs: number[]): number => {
  if (xs.length === 0) return NaN;
  const s = xs.slice().sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Median MB/s of SET and GET of a 16 MB value from the driver to redis (crosses the redis host's shaped link). */
async function linkThroughput(host: string, port: number): Promise<string> {
  const client = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    const value = Buffer.alloc(16 << 20, 7);
    const set: number[] = [], get: number[] = [];
    for (let r = 0; r < 3; r++) {
      let t = performance.now();
      await client.set('bdlsc-probe', value);
      set.push(performance.now() - t);
      t = performance.now();
      await client.getBuffer('bdlsc-probe');
      get.push(performance.now() - t);
    }
    await client.del('bdlsc-probe');
    return `driver <-> redis 16 MB: SET ${(16 / (median(set) / 1000)).toFixed(0)} MB/s, GET ${(16 / (median(get) / 1000)).toFixed(0)} MB/s`;
  } finally {
    client.disconnect();
  }
}

export async function runScalingBench(args: readonly string[]): Promise<number> {
  for (const a of args) if (a.startsWith('--') && !OPTIONS.includes(a)) throw new UsageError(`unknown option '${a}'`);
  const models = oneOf(args, 'models', 'lenet,inception', ['lenet', 'inception'] as const);
  const workerCounts = ints(args, 'workers', '1,2,4,8');
  const engines = oneOf(args, 'engines', 'local,redis', ['local', 'redis'] as const);
  const groups = ints(args, 'groups', '1,10');
  const inceptionGroups = ints(args, 'inception-groups', '1');
  const iterArg = args.includes('--iterations') ? ints(args, 'iterations', '1')[0] : undefined;
  const [lenetBatch] = ints(args, 'lenet-batch', '64');
  const [inceptionBatch] = ints(args, 'inception-batch', '4');
  const [link] = list(args, 'link', '1gbit');
  const [delay] = list(args, 'delay', '0.2ms');
  const noNetns = args.includes('--no-netns');
  const cores = availableParallelism();
  const maxWorkers = Math.max(...workerCounts);
  const started = performance.now();

  const specs: ModelSpec[] = [];
  if (models.includes('lenet')) {
    specs.push({ key: 'lenet', name: 'LeNet-5', perWorker: lenetBatch, warm: 2, measured: iterArg ?? 20, groups, perPartition: 2048, build: () => LeNet5(),
      data: () => fashionMnist(Math.min(60000, 2048 * maxWorkers)) });
  }
  if (models.includes('inception')) {
    specs.push({ key: 'inception', name: 'Inception-v1', perWorker: inceptionBatch, warm: 1, measured: iterArg ?? 3, groups: inceptionGroups, perPartition: Infinity,
      build: () => InceptionV1({ classNum: 1000 }), data: () => inceptionImages(4, 44) });
  }

  const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');
  console.log(`scaling: ${new Date().toISOString().slice(0, 16)}Z, ${cores} core(s) (${cpus()[0]?.model ?? 'unknown CPU'}), load average ${load()} (a shared machine: other work competes for the cores); 1 core and 1 kernel thread per worker` +
    (maxWorkers > cores ? `; ${maxWorkers} workers oversubscribe the ${cores} cores, so with more than ${cores} workers compute time grows with the workers instead of staying flat` : ''));
  console.log('weak scaling: the batch per worker is fixed and the global batch is that times the workers; samples/s = global batch / wall time per iteration');
  console.log('iterations: the first max(W, K) are warm-up (worker caches, model replicas, JIT; W = 2 for LeNet-5, 1 for Inception-v1); figures are medians over the rest (wall time: mean over them)');
  console.log('compute = the forward-backward stage (each task fetches the weights, trains on its share, uploads its gradients); sync = the parameter sync ' +
    '(sum + update per slice); schedule = the rest of the wall time of an iteration (driver, task dispatch), where DistriOptimizer records it; ' +
    'sync % = sync / iteration wall time');

  // the Redis engine's hosts
  let topo: Topology | undefined;
  let redis: RedisProc | undefined;
  if (engines.includes('redis')) {
    if (noNetns) topo = loopback('--no-netns');
    else {
      const t = namespaces(maxWorkers, link, delay);
      if (typeof t === 'string') {
        console.log(`netns: skipped, Redis engine on loopback: ${t}`);
        topo = loopback(t);
      } else {
        topo = t;
        onExit(t.teardown);
      }
    }
    redis = new RedisProc(topo, await freePort());
    await redis.start();
    console.log(`redis engine: ${topo.link}; ${await linkThroughput(topo.redisHost, redis.port)}`);
  }
  if (engines.includes('local')) console.log(`local engine: local[N] worker processes, blocks as files in ${tmpdir()} (one machine, no network)`);

  const rows: Row[] = [];
  let run = 0;
  try {
    for (const spec of specs) {
      const data = spec.data();
      const params = spec.build().parameterCount();
      console.log(`${spec.name}: ${params.toLocaleString('en-US')} parameters (${(params * 4 / 2 ** 20).toFixed(2)} MB fp32); data: ${data.about}; ${spec.perWorker} samples per worker per iteration`);
      for (const engine of engines) {
        for (const w of workerCounts) {
          for (const k of spec.groups) {
            const t0 = performance.now();
            const row = await runOne(spec, data.records, params, engine, w, k, topo, redis, ++run);
            rows.push(row);
            process.stderr.write(`scaling: ${spec.name} ${engine} ${w} worker(s) K=${k}: ${row.error ? `failed: ${row.error}` : `${fmt(row.iterMs, 0)} ms/iteration`} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
          }
        }
      }
    }
  } finally {
    await redis?.stop();
    topo?.teardown();
  }

  const cols = ['model', 'params', 'engine', 'workers', 'K', 'batch', 'compute ms', 'sync ms', 'sync %', 'schedule ms', 'iter ms', 'samples/s'];
  const table = rows.map((r) => [
    r.model, `${(r.params / 1e6).toFixed(r.params < 1e6 ? 3 : 2)}M / ${(r.params * 4 / 2 ** 20).toFixed(r.params < 1e6 ? 2 : 1)} MB`, r.engine, String(r.workers),
    `${r.k}${r.k > 1 && !r.kHonoured && !r.error ? '*' : ''}`, String(r.batch),
    r.error ? 'failed' : fmt(r.computeMs, 1), fmt(r.syncMs, 1), fmt(100 * r.syncMs / r.iterMs, 1), fmt(r.scheduleMs, 2), fmt(r.iterMs, 1),
    Number.isFinite(r.iterMs) ? Math.round(r.batch / (r.iterMs / 1000)).toLocaleString('en-US') : '-',
  ]);
  console.log('');
  console.log(formatTable(cols.map((title, i) => ({ title, align: i === 0 || i === 2 ? 'left' as const : 'right' as const })), table));
  if (rows.some((r) => r.k > 1 && !r.kHonoured && !r.error)) console.log('* this DistriOptimizer has no group scheduling yet (no scheduleMs recorded): the run submitted one iteration at a time');
  if (!rows.some((r) => r.scheduleMs !== undefined)) console.log('schedule ms: - = not recorded by this DistriOptimizer');
  for (const r of rows.filter((x) => x.error)) console.log(`failed: ${r.model} ${r.engine} ${r.workers} workers K=${r.k}: ${r.error}`);
  console.log('BigDL (SoCC 2019, the slides in ../shared/seed): parameter sync < 7% of the iteration on 32 nodes, Inception-v1 on ImageNet ' +
    '(~7M parameters, ~27 MB fp32), multi-core Xeon servers over their cluster network (the link speed is not given there)');
  if (topo) console.log(`ours (redis): ${topo.link}`);
  console.log(`total bench time ${((performance.now() - started) / 1000).toFixed(0)} s; load average at the end ${load()}`);
  return rows.some((r) => r.error) ? 1 : 0;
}

async function runOne(spec: ModelSpec, records: ImageRecord[], params: number, engine: EngineKey, w: number, k: number,
  topo: Topology | undefined, redis: RedisProc | undefined, run: number): Promise<Row> {
  const warm = Math.max(spec.warm, k);
  const total = warm + Math.ceil(spec.measured / k) * k;
  const batch = spec.perWorker * w;
  const row: Row = { model: spec.name, params, engine, workers: w, k, kHonoured: false, batch, computeMs: NaN, syncMs: NaN, scheduleMs: undefined, iterMs: NaN };
  const workers: ChildProcess[] = [];
  let ctx: EngineContext | undefined;
  try {
    if (engine === 'local') {
      ctx = await Engine.init({ master: `local[${w}]` });
    } else {
      const namespace = `bdlsc-${process.pid}-${run}`;
      workers.push(...await Promise.all(Array.from({ length: w }, (_, i) => startWorker(topo!, i + 1, redis!.url, namespace))));
      ctx = await Engine.init({ master: redis!.url, redis: { namespace } });
      const deadline = Date.now() + 20_000;
      while ((await ctx.cluster.workers()).length < w) {
        if (Date.now() > deadline) throw new Error(`only ${(await ctx.cluster.workers()).length} of ${w} workers registered`);
        await sleep(50);
      }
    }
    // one partition per worker, at least as many samples as the worker's share of a batch
    const n = Math.max(Math.min(records.length, spec.perPartition * w), w);
    const items = Array.from({ length: n }, (_, i) => records[i % records.length]);
    const trainingSet = ctx.parallelize(items, w).map(fns.toSample);
    RNG.setSeed(1);
    const cfg: DistriOptimizerConfig & { groupSize?: number } = {
      model: spec.build(), trainingSet, criterion: new ClassNLLCriterion(),
      optimMethod: new SGD({ learningRate: 0.01, momentum: 0.9, dampening: 0 }), batchSize: batch,
      endWhen: Trigger.maxIteration(total), progress: 'quiet', groupSize: k,
    };
    const opt = new DistriOptimizer(cfg);
    // wall-clock time at which each iteration's record lands (groups land together: the mean over
    // whole groups is the period)
    const stamps: number[] = [];
    const times = opt.iterationTimes as unknown as { push: (...xs: unknown[]) => number };
    const push = times.push.bind(times);
    times.push = (...xs: unknown[]) => { for (let i = 0; i < xs.length; i++) stamps.push(performance.now()); return push(...xs); };
    await opt.optimize();
    const measured = opt.iterationTimes.slice(warm);
    if (measured.length === 0) throw new Error(`ran ${opt.iterationTimes.length} iterations, none after the ${warm} warm-up ones`);
    row.computeMs = median(measured.map((t) => t.computeMs));
    row.syncMs = median(measured.map((t) => t.syncMs));
    const sched = measured.map((t) => (t as any).scheduleMs).filter((x): x is number => typeof x === 'number');
    row.kHonoured = sched.length > 0;
    row.scheduleMs = sched.length ? median(sched) : undefined;
    row.iterMs = stamps.length === opt.iterationTimes.length && stamps.length > warm
      ? (stamps[stamps.length - 1] - stamps[warm - 1]) / (stamps.length - warm)
      : median(measured.map((t) => t.computeMs + t.syncMs + ((t as any).scheduleMs ?? 0)));
  } catch (e) {
    row.error = (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300);
  } finally {
    await ctx?.close().catch(() => {});
    await Promise.all(workers.map((p) => stopProcess(p)));
  }
  return row;
}
