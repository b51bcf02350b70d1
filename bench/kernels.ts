/**
 * `npm run bench -- kernels`: GFLOP/s of the native backend's sgemm and convolution kernels, as a
 * fraction of the machine's peak and as ratios against OpenBLAS called from C and PyTorch CPU,
 * all measured in this run with the same thread count and timing method (bench/harness.ts).
 */
import { availableParallelism } from 'node:os';
import type { Backend, ConvParams } from '../src/backend/backend.js';
import { getBackend } from '../src/backend/registry.js';
import { loadAddon } from '../src/backend/native/addon.js';
import { TIMING, UsageError, faster, measure, randomF32, type Timing } from './harness.js';
import { machineInfo } from './machine.js';
import { CReference, TorchReference, type GemmShape, type Started } from './refs.js';
import { printKernelsReport, type KernelRow } from './report.js';

/** lib: which library the addon's gemm uses for this row (the default is oneDNN's dnnl_sgemm) */
interface GemmCase { kernel: string; shape: string; g: GemmShape; lib?: 'openblas' }
interface ConvLayer { name: string; shape: string; p: ConvParams }
type ConvPass = 'forward' | 'backwardData' | 'backwardWeights';
const CONV_PASSES: readonly [ConvPass, string][] = [
  ['forward', 'forward'], ['backwardData', 'backward data'], ['backwardWeights', 'backward weights']];

export function gemmCases(): GemmCase[] {
  const square = [64, 128, 256, 512, 1024].map((s): GemmCase => ({
    kernel: 'sgemm NN', shape: `${s}x${s}x${s}`, g: { ta: false, tb: false, m: s, n: s, k: s } }));
  // The three GEMMs of a Linear(1024 -> 1024) training step on a batch of 128, W stored [out, in].
  const cases = square.concat([
    { kernel: 'linear fwd NT', shape: 'x[128x1024]·Wᵀ', g: { ta: false, tb: true, m: 128, n: 1024, k: 1024 } },
    { kernel: 'linear grad-in NN', shape: 'gy[128x1024]·W', g: { ta: false, tb: false, m: 128, n: 1024, k: 1024 } },
    { kernel: 'linear grad-W TN', shape: 'gyᵀ·x[128x1024]', g: { ta: true, tb: false, m: 1024, n: 1024, k: 128 } },
  ]);
  // The addon serves gemm from dnnl_sgemm; the same shapes with the addon forced onto OpenBLAS
  // compare like with like against OpenBLAS from C (our call overhead, same library).
  return cases.concat(cases.map((c) => ({ ...c, kernel: `${c.kernel} (OpenBLAS)`, lib: 'openblas' as const })));
}

/** The addon's gemm library for one measurement: 0 = dnnl_sgemm, 1 = OpenBLAS (see native/src/gemm.cc). */
function withGemmLibrary<T>(lib: GemmCase['lib'], f: () => T): T {
  const l = loadAddon();
  if (!l.ok || !lib) return f();
  const before = l.addon.getGemmLibrary() as number;
  l.addon.setGemmLibrary(lib === 'openblas' ? 1 : 0);
  try {
    return f();
  } finally {
    l.addon.setGemmLibrary(before);
  }
}

/** Stride 1, no dilation, one group; oh/ow = (h + 2*pad - (k-1) - 1)/1 + 1. */
export function convParams(n: number, c: number, h: number, w: number, oc: number, k: number, pad: number): ConvParams {
  const out = (size: number): number => size + 2 * pad - (k - 1);
  return { n, c, h, w, oc, kh: k, kw: k, strideH: 1, strideW: 1, padH: pad, padW: pad, dilationH: 1, dilationW: 1,
    groups: 1, oh: out(h), ow: out(w) };
}

/** Inception-v1 (GoogLeNet) layers: conv2's 3x3 and inception 3a's 1x1 reduce. */
export function convLayers(): ConvLayer[] {
  return [
    { name: 'conv 3x3', shape: '16x64x56x56 -> 192, pad 1', p: convParams(16, 64, 56, 56, 192, 3, 1) },
    { name: 'conv 1x1', shape: '16x192x28x28 -> 64', p: convParams(16, 192, 28, 28, 64, 1, 0) },
  ];
}

const gemmGflop = (g: GemmShape): number => (2 * g.m * g.n * g.k) / 1e9;
const convGflop = (p: ConvParams): number =>
  (2 * p.n * p.oc * p.oh * p.ow * (p.c / p.groups) * p.kh * p.kw) / 1e9;

function timeGemm(be: Backend, g: GemmShape, seed: number): Timing {
  const a = randomF32(g.m * g.k, seed), b = randomF32(g.k * g.n, seed + 1), c = new Float32Array(g.m * g.n);
  const lda = g.ta ? g.m : g.k, ldb = g.tb ? g.k : g.n;
  return measure(() => be.gemm(g.ta, g.tb, g.m, g.n, g.k, 1, a, 0, lda, b, 0, ldb, 0, c, 0, g.n));
}

function timeConv(be: Backend, p: ConvParams, seed: number): Record<ConvPass, Timing> {
  const x = randomF32(p.n * p.c * p.h * p.w, seed);
  const w = randomF32(p.oc * (p.c / p.groups) * p.kh * p.kw, seed + 1, 0.1);
  const b = randomF32(p.oc, seed + 2);
  const gy = randomF32(p.n * p.oc * p.oh * p.ow, seed + 3);
  const y = new Float32Array(gy.length), gx = new Float32Array(x.length);
  const gw = new Float32Array(w.length), gb = new Float32Array(b.length);
  return {
    forward: measure(() => be.conv2dForward(p, x, 0, w, 0, b, 0, y, 0)),
    backwardData: measure(() => be.conv2dBackwardData(p, gy, 0, w, 0, gx, 0)),
    backwardWeights: measure(() => be.conv2dBackwardWeights(p, x, 0, gy, 0, gw, 0, gb, 0)),
  };
}

/** --threads N / --threads=N, else BIGDL_THREADS, else every available core. */
export function parseThreads(args: readonly string[]): number {
  let value: string | undefined = process.env.BIGDL_THREADS;
  let source = 'BIGDL_THREADS';
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--threads') {
      value = args[++i];
      source = '--threads';
      if (value === undefined) throw new UsageError('--threads needs a value, e.g. --threads 2');
    } else if (arg.startsWith('--threads=')) {
      value = arg.slice('--threads='.length);
      source = '--threads';
    } else {
      throw new UsageError(`unknown option '${arg}' (kernels takes only --threads N)`);
    }
  }
  if (value === undefined || (value === '' && source === 'BIGDL_THREADS')) return availableParallelism();
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isInteger(n) || n < 1) {
    throw new UsageError(`${source} '${value}' must be a positive integer`);
  }
  return n;
}

/** Progress on stderr: rewritten in place on a terminal, else only the lines that start a phase. */
function log(msg: string, phase = true): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[Kbench kernels: ${msg}`);
  else if (phase) process.stderr.write(`bench kernels: ${msg}\n`);
}

export async function runKernelsBench(args: readonly string[]): Promise<number> {
  const started = performance.now();
  const threads = parseThreads(args);
  const be = getBackend('native');
  be.setThreads(threads);
  const gemms = gemmCases(), layers = convLayers();

  log(`compiling and starting the OpenBLAS-from-C reference (${threads} thread(s))`);
  const cRef = await CReference.start(threads, TIMING);
  log('starting the PyTorch reference');
  const torchRef = await TorchReference.start(threads, TIMING);
  const refErrors: string[] = [];
  const failed = new Set<string>();
  /** One reference measurement; a reference that fails once is left out from then on. */
  const ask = async <R, T>(ref: Started<R>, label: string, q: (r: R) => Promise<T>): Promise<T | undefined> => {
    if (!ref.ok || failed.has(label)) return undefined;
    try {
      return await q(ref.ref);
    } catch (e) {
      failed.add(label);
      refErrors.push(`${label}: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  };

  const gemmC: (Timing | undefined)[] = [], gemmTorch: (Timing | undefined)[] = [], gemmOurs: (Timing | undefined)[] = [];
  type PassTimings = Partial<Record<ConvPass, Timing>>;
  const convTorch: PassTimings[] = layers.map(() => ({})), convOurs: PassTimings[] = layers.map(() => ({}));
  try {
    for (let round = 1; round <= TIMING.rounds; round++) {
      for (const [i, c] of gemms.entries()) {
        log(`round ${round}/${TIMING.rounds}: ${c.kernel} ${c.shape}`, i === 0);
        gemmC[i] = faster(gemmC[i], await ask(cRef, 'OpenBLAS from C', (r) => r.gemm(c.g)));
        gemmTorch[i] = faster(gemmTorch[i], await ask(torchRef, 'PyTorch', (r) => r.gemm(c.g)));
        gemmOurs[i] = faster(gemmOurs[i], withGemmLibrary(c.lib, () => timeGemm(be, c.g, 100 + 10 * i)));
      }
      for (const [i, l] of layers.entries()) {
        log(`round ${round}/${TIMING.rounds}: ${l.name} ${l.shape}`, false);
        const t = await ask(torchRef, 'PyTorch', (r) => r.conv(l.p));
        const ours = timeConv(be, l.p, 200 + 10 * i);
        for (const [pass] of CONV_PASSES) {
          convTorch[i][pass] = faster(convTorch[i][pass], t?.[pass]);
          convOurs[i][pass] = faster(convOurs[i][pass], ours[pass]);
        }
      }
    }
  } finally {
    if (cRef.ok) cRef.ref.close();
    if (torchRef.ok) torchRef.ref.close();
  }

  const rows: KernelRow[] = gemms.map((c, i) => ({
    kernel: c.kernel, shape: c.shape, gflop: gemmGflop(c.g), ours: gemmOurs[i]!, c: gemmC[i], torch: gemmTorch[i], floorOf: 'C',
  }));
  for (const [i, l] of layers.entries()) {
    for (const [pass, label] of CONV_PASSES) {
      rows.push({ kernel: `${l.name} ${label}`, shape: l.shape, gflop: convGflop(l.p), ours: convOurs[i][pass]!,
        c: undefined, torch: convTorch[i][pass], floorOf: 'torch' });
    }
  }
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  printKernelsReport({
    threads, machine: machineInfo(), c: cRef.ok ? { info: cRef.ref.info } : { reason: cRef.reason },
    torch: torchRef.ok ? { info: torchRef.ref.info } : { reason: torchRef.reason }, refErrors, rows,
    seconds: (performance.now() - started) / 1e3,
  });
  return 0;
}
