/** Printing for the kernels bench: header (machine, peaks, references), table, one-line summary. */
import { describeTiming, geomean, type Timing } from './harness.js';
import { FLOPS_PER_CYCLE, nominalPeakGflops, type MachineInfo } from './machine.js';
import type { CInfo, TorchInfo } from './refs.js';
import { fmt, formatTable } from './table.js';

/** Floors: native sgemm vs OpenBLAS from C, native convolution vs PyTorch. */
export const GEMM_FLOOR = 0.9;
export const CONV_FLOOR = 0.9;

export interface KernelRow {
  kernel: string;
  shape: string;
  gflop: number;
  ours: Timing;
  c: Timing | undefined;
  torch: Timing | undefined;
  /** which reference the floor is checked against */
  floorOf: 'C' | 'torch';
}

export interface KernelsReport {
  threads: number;
  machine: MachineInfo;
  c: { info: CInfo } | { reason: string };
  torch: { info: TorchInfo } | { reason: string };
  refErrors: string[];
  rows: KernelRow[];
  seconds: number;
}

const ratio = (x: number | undefined): string => (x === undefined ? '-' : `${x.toFixed(2)}x`);
const pct = (x: number | undefined | null): string => (x === undefined || x === null ? '-' : `${x.toFixed(0)}%`);

function header(r: KernelsReport): string[] {
  const { machine: m, threads } = r;
  const peak = nominalPeakGflops(m, threads);
  const cores = Math.min(threads, m.cores);
  const ghz = m.mhz === null ? null : m.mhz / 1000;
  const out = [
    `BigDL.ts kernel benchmark: native backend, ${threads} thread(s)`,
    `CPU: ${m.model}, ${m.cores} core(s), ${m.logicalCpus} logical CPU(s)` +
      (m.avx2Fma ? ', AVX2+FMA' : ', no AVX2+FMA flags (the peak below assumes them)'),
    peak === null || ghz === null
      ? 'peak (% peak): unknown, /proc/cpuinfo has no "cpu MHz"'
      : `peak (% peak): ${fmt(peak, 1)} GFLOP/s = ${cores} core(s) x ${fmt(ghz, 3)} GHz ("cpu MHz" from /proc/cpuinfo, ` +
        `mean over CPUs) x ${FLOPS_PER_CYCLE} float32 flops/cycle (AVX2 FMA)`,
  ];
  if ('info' in r.c) {
    const { measuredPeakGflops: avx2, measuredPeakAvx512Gflops: avx512 } = r.c.info;
    out.push(`measured FMA peak (% meas.): ${fmt(Math.max(avx2, avx512 ?? 0), 1)} GFLOP/s, measured on ${threads} ` +
      `thread(s) by bench/ref/sgemm_ref.c (best of 3): AVX2 ${fmt(avx2, 1)}` +
      (avx512 === null ? ', no AVX-512' : `, AVX-512 ${fmt(avx512, 1)}`) +
      `, i.e. ${fmt(avx2 / cores / FLOPS_PER_CYCLE, 2)} GHz effective per core`);
    if (ghz !== null && avx2 / cores / FLOPS_PER_CYCLE > 1.05 * ghz) {
      out.push('  note: the cores run faster than "cpu MHz" says (turbo), so "% peak" can exceed 100%');
    }
    out.push(`OpenBLAS from C: ${r.c.info.openblasThreads} thread(s), libopenblas0-openmp (OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? '(unset)'}); ` +
      'ours: the addon\'s gemm, which calls oneDNN\'s dnnl_sgemm (JIT for the CPU\'s widest ISA) unless BIGDL_GEMM=openblas; ' +
      'the "(OpenBLAS)" rows force the addon onto the same OpenBLAS as the C reference');
  } else {
    out.push('measured FMA peak: not available (the C reference did not run)', `OpenBLAS from C: ${r.c.reason}`);
  }
  out.push('info' in r.torch
    ? `PyTorch: ${r.torch.info.torch}, ${r.torch.info.threads} thread(s), mkldnn ${r.torch.info.mkldnn ? 'on' : 'off'}`
    : `PyTorch: ${r.torch.reason}`);
  for (const e of r.refErrors) out.push(`reference failed, its later ratios left out: ${e}`);
  out.push(`timing: ${describeTiming()}`);
  return out;
}

export function printKernelsReport(r: KernelsReport): void {
  const peak = nominalPeakGflops(r.machine, r.threads);
  const measured = 'info' in r.c ? Math.max(r.c.info.measuredPeakGflops, r.c.info.measuredPeakAvx512Gflops ?? 0) : null;
  const gemmVsC: number[] = [], convVsTorch: number[] = [];
  let met = 0, checked = 0;
  const rows = r.rows.map((row) => {
    const gflops = row.gflop / (row.ours.medianMs / 1e3);
    const vsC = row.c && row.c.medianMs / row.ours.medianMs;
    const vsTorch = row.torch && row.torch.medianMs / row.ours.medianMs;
    const against = row.floorOf === 'C' ? vsC : vsTorch;
    const floor = row.floorOf === 'C' ? GEMM_FLOOR : CONV_FLOOR;
    if (against !== undefined) {
      checked++;
      if (against >= floor) met++;
      (row.floorOf === 'C' ? gemmVsC : convVsTorch).push(against);
    }
    return [row.kernel, row.shape, fmt(row.ours.medianMs, 3), fmt(gflops, 1),
      pct(peak && (100 * gflops) / peak), pct(measured && (100 * gflops) / measured), ratio(vsC), ratio(vsTorch),
      against === undefined ? 'n/a' : against >= floor ? 'yes' : 'NO'];
  });
  const table = formatTable([
    { title: 'kernel' }, { title: 'shape' }, { title: 'ms', align: 'right' }, { title: 'GFLOP/s', align: 'right' },
    { title: '% peak', align: 'right' }, { title: '% meas.', align: 'right' },
    { title: 'vs OpenBLAS C', align: 'right' }, { title: 'vs PyTorch', align: 'right' }, { title: 'floor met' },
  ], rows);
  const part = (what: string, xs: number[], floor: number, ref: string): string => xs.length
    ? `${what} ${geomean(xs).toFixed(2)}x ${ref} (geomean, ${xs.filter((x) => x >= floor).length}/${xs.length} at floor)`
    : `${what} vs ${ref}: n/a`;
  console.log([
    ...header(r), '', table, '',
    `ms = median per call; ratios = reference time / our time (above 1: faster than the reference); floors: ` +
      `sgemm >= ${GEMM_FLOOR.toFixed(2)}x OpenBLAS from C, convolution >= ${CONV_FLOOR.toFixed(2)}x PyTorch`,
    `summary: ${checked ? `${met}/${checked} floors met` : 'no floor checked (no reference ran)'}; ${part('sgemm', gemmVsC, GEMM_FLOOR, 'OpenBLAS-C')}; ` +
      `${part('conv', convVsTorch, CONV_FLOOR, 'PyTorch')}; bench took ${fmt(r.seconds, 1)} s`,
  ].join('\n'));
}
