/**
 * Where a training step of the models bench goes, on the calling thread (the `threads` executor's
 * path, or one replica's share with --threads 1 --rows N/2):
 *
 *   node dist/bench/profile-models.js <lenet|neumf|lstm|inception> [--steps N] [--threads N] [--rows R] [--infer]
 *
 * Phases of a step (zeroGrad, forward, criterion, backward, SGD), then per module: self time of
 * forward and backward (children excluded), how much of it was spent inside backend calls
 * ("kernel") and how many backend calls it made; the rest is JavaScript (shape checks, views,
 * dispatch). Also totals per backend method. Timing wrappers add ~1 µs per call.
 */
import type { ConvParams } from '../src/backend/backend.js';
import { backend, setThreads } from '../src/backend/registry.js';
import type { Activity, Module } from '../src/nn/module.js';
import { SGD } from '../src/optim/sgd.js';
import { LEARNING_RATE, MOMENTUM, modelCases } from './models.js';
import { fmt, formatTable } from './table.js';

interface Acc { ms: number; kernelMs: number; calls: number; n: number }
const newAcc = (): Acc => ({ ms: 0, kernelMs: 0, calls: 0, n: 0 });

/** the innermost frame being timed: children's time and backend time are charged to it */
interface Frame { start: number; childMs: number; kernelMs: number; calls: number; key: string }
/** per module: backend method -> [ms, calls] */
const moduleMethods = new Map<string, Map<string, [number, number]>>();
const stack: Frame[] = [];
let recording = false;

const backendTotals = new Map<string, Acc>();
/** gemm / convolution calls by shape; `n` holds the flops of one call */
const shapeTotals = new Map<string, Acc>();

function shapeKey(name: string, a: unknown[]): string | null {
  if (name === 'gemm') return `gemm ${a[0] ? 'T' : 'N'}${a[1] ? 'T' : 'N'} m${a[2]} n${a[3]} k${a[4]}`;
  if (name.startsWith('conv2d')) {
    const p = a[0] as ConvParams;
    return `${name} ${p.n}x${p.c}x${p.h}x${p.w} -> ${p.oc} k${p.kh}s${p.strideH}`;
  }
  return null;
}

function flopsOf(name: string, a: unknown[]): number {
  if (name === 'gemm') return 2 * (a[2] as number) * (a[3] as number) * (a[4] as number);
  const p = a[0] as ConvParams;
  return 2 * p.n * p.oc * p.oh * p.ow * (p.c / p.groups) * p.kh * p.kw;
}
function patchBackend(): void {
  const be = backend() as unknown as Record<string, unknown>;
  for (const [name, fn] of Object.entries(be)) {
    if (typeof fn !== 'function' || name === 'setThreads' || name === 'getThreads') continue;
    const f = fn as (...a: unknown[]) => unknown;
    be[name] = function (this: unknown, ...args: unknown[]) {
      if (!recording) return f.apply(this, args);
      const t0 = performance.now();
      const r = f.apply(this, args);
      const dt = performance.now() - t0;
      const top = stack[stack.length - 1];
      if (top) {
        top.kernelMs += dt; top.calls++;
        let mm = moduleMethods.get(top.key);
        if (!mm) moduleMethods.set(top.key, (mm = new Map()));
        const e = mm.get(name) ?? [0, 0];
        e[0] += dt; e[1]++;
        mm.set(name, e);
      }
      let a = backendTotals.get(name);
      if (!a) backendTotals.set(name, (a = newAcc()));
      a.ms += dt; a.calls++;
      const shape = shapeKey(name, args);
      if (shape) {
        let b = shapeTotals.get(shape);
        if (!b) shapeTotals.set(shape, (b = { ...newAcc(), n: flopsOf(name, args) }));
        b.ms += dt; b.calls++;
      }
      return r;
    };
  }
}

type Phase = 'fwd' | 'bwd';
const perModule = new Map<string, Record<Phase, Acc>>();
const order: string[] = [];

function label(m: Module<any, any>, path: string): string {
  return `${path} ${m.constructor.name}${m.getName() !== m.constructor.name ? ` '${m.getName()}'` : ''}`;
}

function wrapModule(m: Module<any, any>, path: string): void {
  const key = label(m, path);
  order.push(key);
  perModule.set(key, { fwd: newAcc(), bwd: newAcc() });
  const rec = m as unknown as Record<string, (...a: unknown[]) => unknown>;
  const methods: [string, Phase][] = [['updateOutput', 'fwd'], ['updateGradInput', 'bwd'], ['accGradParameters', 'bwd'], ['backward', 'bwd']];
  for (const [name, phase] of methods) {
    const f = rec[name];
    rec[name] = function (this: unknown, ...args: unknown[]) {
      if (!recording) return f.apply(this, args);
      const frame: Frame = { start: performance.now(), childMs: 0, kernelMs: 0, calls: 0, key };
      stack.push(frame);
      try {
        return f.apply(this, args);
      } finally {
        stack.pop();
        const total = performance.now() - frame.start;
        const a = perModule.get(key)![phase];
        a.ms += total - frame.childMs;
        a.kernelMs += frame.kernelMs;
        a.calls += frame.calls;
        a.n++;
        const parent = stack[stack.length - 1];
        if (parent) parent.childMs += total;
      }
    };
  }
  m.children().forEach((c, i) => wrapModule(c, `${path}.${i}`));
}

function narrowRows(a: Activity, rows: number): Activity {
  if (Array.isArray(a)) return a.map((x) => narrowRows(x, rows));
  return a.narrow(0, 0, rows).contiguous();
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const key = args[0];
  const opt = (name: string, def: number): number => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : def;
  };
  const c = modelCases().find((x) => x.key === key);
  if (!c) throw new Error(`usage: profile-models.js <${modelCases().map((x) => x.key).join('|')}> [--steps N] [--threads N] [--rows R] [--infer]`);
  const steps = opt('--steps', 10), threads = opt('--threads', 2), rows = opt('--rows', c.batch);
  const inferOnly = args.includes('--infer');
  setThreads(threads);
  const { model, criterion } = c.build();
  const data = c.data();
  const input = rows === c.batch ? data.input : narrowRows(data.input, rows);
  const target = rows === c.batch ? data.target : narrowRows(data.target, rows);
  const { weights, gradients } = model.getParameters();
  const sgd = new SGD({ learningRate: LEARNING_RATE, momentum: MOMENTUM, dampening: 0 });
  patchBackend();
  wrapModule(model, 'm');
  const phases = new Map<string, number>();
  const phase = <T>(name: string, f: () => T): T => {
    if (!recording) return f();
    const t0 = performance.now();
    const r = f();
    phases.set(name, (phases.get(name) ?? 0) + performance.now() - t0);
    return r;
  };
  const step = (): void => {
    if (inferOnly) {
      model.evaluate();
      phase('forward (eval)', () => model.forward(input));
      return;
    }
    model.training();
    phase('zeroGradParameters', () => model.zeroGradParameters());
    const out = phase('forward', () => model.forward(input));
    phase('criterion fwd+bwd', () => { criterion.forward(out, target); criterion.backward(out, target); });
    phase('backward', () => model.backward(input, criterion.gradInput));
    phase('SGD step', () => sgd.step(weights, gradients));
  };
  for (let i = 0; i < 3; i++) step();
  recording = true;
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  const wall = (performance.now() - t0) / steps;
  recording = false;

  const per = (x: number): string => fmt(x / steps, 2);
  console.log(`${c.name}: ${inferOnly ? 'inference' : 'training'} step on the calling thread, ${threads} thread(s), ` +
    `${rows} rows, ${steps} steps: ${fmt(wall, 2)} ms/step (with timing wrappers)`);
  console.log(formatTable([{ title: 'phase' }, { title: 'ms/step', align: 'right' }, { title: '%', align: 'right' }],
    [...phases].map(([k, v]) => [k, per(v), fmt((100 * v) / steps / wall, 1)])));
  const kernelTotal = [...backendTotals.values()].reduce((s, a) => s + a.ms, 0);
  const callsTotal = [...backendTotals.values()].reduce((s, a) => s + a.calls, 0);
  console.log(`\ninside backend calls: ${per(kernelTotal)} ms/step (${fmt((100 * kernelTotal) / steps / wall, 1)}%), ` +
    `${fmt(callsTotal / steps, 0)} calls/step; outside (JS): ${fmt(wall - kernelTotal / steps, 2)} ms/step`);

  const rowsOut = order.map((k) => {
    const a = perModule.get(k)!;
    return { k, a, total: a.fwd.ms + a.bwd.ms };
  }).filter((r) => r.total / steps >= 0.005).sort((x, y) => y.total - x.total).slice(0, 40);
  console.log('\n' + formatTable([
    { title: 'module (self time, children excluded)' }, { title: 'fwd ms', align: 'right' }, { title: 'fwd kernel', align: 'right' },
    { title: 'fwd calls', align: 'right' }, { title: 'bwd ms', align: 'right' }, { title: 'bwd kernel', align: 'right' },
    { title: 'bwd calls', align: 'right' }, { title: 'JS ms', align: 'right' }, { title: '% step', align: 'right' },
  ], rowsOut.map(({ k, a, total }) => [k.length > 60 ? k.slice(0, 57) + '...' : k, per(a.fwd.ms), per(a.fwd.kernelMs), fmt(a.fwd.calls / steps, 0),
    per(a.bwd.ms), per(a.bwd.kernelMs), fmt(a.bwd.calls / steps, 0), per(total - a.fwd.kernelMs - a.bwd.kernelMs),
    fmt((100 * total) / steps / wall, 1)])));

  console.log('\nbackend time per module (top 12), ms/step [calls]:');
  for (const { k } of rowsOut.slice(0, 12)) {
    const mm = moduleMethods.get(k);
    if (!mm) continue;
    console.log(`  ${k}: ${[...mm].sort((x, y) => y[1][0] - x[1][0]).map(([n, [ms, calls]]) => `${n} ${per(ms)} [${fmt(calls / steps, 0)}]`).join(', ')}`);
  }

  // per layer type
  const byType = new Map<string, { fwd: number; bwd: number; kernel: number; calls: number }>();
  for (const k of order) {
    const a = perModule.get(k)!;
    const type = k.split(' ')[1];
    const t = byType.get(type) ?? { fwd: 0, bwd: 0, kernel: 0, calls: 0 };
    t.fwd += a.fwd.ms; t.bwd += a.bwd.ms; t.kernel += a.fwd.kernelMs + a.bwd.kernelMs; t.calls += a.fwd.calls + a.bwd.calls;
    byType.set(type, t);
  }
  console.log('\n' + formatTable([
    { title: 'layer type' }, { title: 'fwd ms', align: 'right' }, { title: 'bwd ms', align: 'right' }, { title: 'kernel ms', align: 'right' },
    { title: 'JS ms', align: 'right' }, { title: 'calls', align: 'right' }, { title: '% step', align: 'right' },
  ], [...byType].sort((x, y) => (y[1].fwd + y[1].bwd) - (x[1].fwd + x[1].bwd)).filter(([, t]) => (t.fwd + t.bwd) / steps >= 0.005)
    .map(([type, t]) => [type, per(t.fwd), per(t.bwd), per(t.kernel), per(t.fwd + t.bwd - t.kernel), fmt(t.calls / steps, 0),
      fmt((100 * (t.fwd + t.bwd)) / steps / wall, 1)])));

  console.log('\n' + formatTable([
    { title: 'gemm / conv shape (top 25 by time)' }, { title: 'ms/step', align: 'right' }, { title: 'calls/step', align: 'right' },
    { title: 'µs/call', align: 'right' }, { title: 'GFLOP/s', align: 'right' },
  ], [...shapeTotals].sort((x, y) => y[1].ms - x[1].ms).slice(0, 25).map(([k, a]) => [k, per(a.ms), fmt(a.calls / steps, 0),
    fmt((1000 * a.ms) / a.calls, 1), fmt((a.n * a.calls) / (a.ms * 1e6), 1)])));

  console.log('\n' + formatTable([
    { title: 'backend method' }, { title: 'ms/step', align: 'right' }, { title: 'calls/step', align: 'right' }, { title: 'µs/call', align: 'right' },
  ], [...backendTotals].sort((x, y) => y[1].ms - x[1].ms).map(([k, a]) => [k, per(a.ms), fmt(a.calls / steps, 0), fmt((1000 * a.ms) / a.calls, 1)])));
}

await main();
