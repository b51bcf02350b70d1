/**
 * Which library should serve the addon's sgemm, per shape: OpenBLAS (as OPENBLAS_CORETYPE pins it)
 * against oneDNN's dnnl_sgemm, each at the full thread count and on one thread, on the GEMM shapes
 * of the models bench (Linear layers of NeuMF, LeNet-5, the LSTM classifier and Inception's head)
 * plus the kernels bench's squares. Candidates alternate within each round (the machine is
 * shared); the best median of the rounds is kept.
 *
 *   node dist/bench/gemm-libs.js [--threads N] [--rounds R]
 *
 * Records the figures behind docs/ARCHITECTURE.md's "GEMM through oneDNN's sgemm".
 */
import { loadAddon } from '../src/backend/native/addon.js';
import { fmt, formatTable } from './table.js';
import { measure, randomF32, type Timing } from './harness.js';

interface Shape { what: string; ta: boolean; tb: boolean; m: number; n: number; k: number }

const shapes: Shape[] = [
  // NeuMF, batch 2048: Linear(256->256), (256->128), (128->64): forward NT, grad-input NN, grad-weight TN
  { what: 'NeuMF L0 fwd', ta: false, tb: true, m: 2048, n: 256, k: 256 },
  { what: 'NeuMF L0 gradIn', ta: false, tb: false, m: 2048, n: 256, k: 256 },
  { what: 'NeuMF L0 gradW', ta: true, tb: false, m: 256, n: 256, k: 2048 },
  { what: 'NeuMF L1 fwd', ta: false, tb: true, m: 2048, n: 128, k: 256 },
  { what: 'NeuMF L2 gradW', ta: true, tb: false, m: 64, n: 128, k: 2048 },
  { what: 'NeuMF bias grad', ta: false, tb: false, m: 1, n: 256, k: 2048 },
  // LSTM, batch 128, hidden 128, embedding 100, 50 steps
  { what: 'LSTM step h·Wᵀ', ta: false, tb: true, m: 128, n: 512, k: 128 },
  { what: 'LSTM step gradIn', ta: false, tb: false, m: 128, n: 128, k: 512 },
  { what: 'LSTM x·Wᵀ (all steps)', ta: false, tb: true, m: 6400, n: 512, k: 100 },
  { what: 'LSTM gradW (all steps)', ta: true, tb: false, m: 512, n: 128, k: 6400 },
  // LeNet-5, batch 128
  { what: 'LeNet fc1 gradIn', ta: false, tb: false, m: 128, n: 192, k: 100 },
  { what: 'LeNet fc1 fwd', ta: false, tb: true, m: 128, n: 100, k: 192 },
  { what: 'LeNet fc2 fwd', ta: false, tb: true, m: 128, n: 10, k: 100 },
  // Inception-v1 head, batch 16
  { what: 'Inception fc fwd', ta: false, tb: true, m: 16, n: 1000, k: 1024 },
  { what: 'Inception fc gradW', ta: true, tb: false, m: 1000, n: 1024, k: 16 },
  // the kernels bench
  { what: 'square 64', ta: false, tb: false, m: 64, n: 64, k: 64 },
  { what: 'square 128', ta: false, tb: false, m: 128, n: 128, k: 128 },
  { what: 'square 256', ta: false, tb: false, m: 256, n: 256, k: 256 },
  { what: 'square 1024', ta: false, tb: false, m: 1024, n: 1024, k: 1024 },
];

function main(): void {
  const args = process.argv.slice(2);
  const opt = (name: string, def: number): number => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : def;
  };
  const threads = opt('--threads', 2), rounds = opt('--rounds', 3);
  const load = loadAddon();
  if (!load.ok) throw new Error(load.reason);
  const a = load.addon;
  const DNNL = 0, OPENBLAS = 1;
  const candidates: { name: string; lib: number; threads: number }[] = [
    { name: `OpenBLAS ${threads}t`, lib: OPENBLAS, threads },
    { name: 'OpenBLAS 1t', lib: OPENBLAS, threads: 1 },
    { name: `dnnl ${threads}t`, lib: DNNL, threads },
    { name: 'dnnl 1t', lib: DNNL, threads: 1 },
  ];
  const before = a.getGemmLibrary() as number;
  const rows: string[][] = [];
  for (const [si, s] of shapes.entries()) {
    const A = randomF32(s.m * s.k, 10 + si), B = randomF32(s.k * s.n, 20 + si), C = new Float32Array(s.m * s.n);
    const lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
    const best: (Timing | undefined)[] = candidates.map(() => undefined);
    for (let r = 0; r < rounds; r++) {
      for (const [ci, c] of candidates.entries()) {
        a.setGemmLibrary(c.lib);
        a.setThreads(c.threads);
        const t = measure(() => a.gemm(s.ta, s.tb, s.m, s.n, s.k, 1, A, 0, lda, B, 0, ldb, 0, C, 0, s.n),
          { warmup: 3, minSeconds: 0.1, minIters: 5, maxIters: 20_000, rounds: 1 });
        if (!best[ci] || t.medianMs < best[ci]!.medianMs) best[ci] = t;
      }
    }
    const us = best.map((t) => t!.medianMs * 1000);
    const win = us.indexOf(Math.min(...us));
    rows.push([s.what, `${s.ta ? 'T' : 'N'}${s.tb ? 'T' : 'N'} ${s.m}x${s.n}x${s.k}`, fmt(s.m * s.n * s.k / 1e6, 2),
      ...us.map((u) => fmt(u, 1)), candidates[win].name, fmt(us[0] / Math.min(us[2], us[3]), 2)]);
  }
  a.setGemmLibrary(before);
  a.setThreads(threads);
  console.log(`sgemm per library and thread count, µs per call (best median of ${rounds} alternating rounds); ` +
    `OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? '(unset)'}; the addon's rule: dnnl, one thread below 2^24 multiply-adds`);
  console.log(formatTable([
    { title: 'shape' }, { title: 'gemm', align: 'right' }, { title: 'M mult-adds', align: 'right' },
    ...candidates.map((c) => ({ title: c.name, align: 'right' as const })), { title: 'fastest' },
    { title: `OpenBLAS ${threads}t / best dnnl`, align: 'right' },
  ], rows));
}

main();
