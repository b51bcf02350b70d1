import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** What /proc/cpuinfo says about this machine, for the nominal float32 peak. */
export interface MachineInfo {
  model: string;
  /** physical cores: distinct (physical id, core id) pairs, else logical CPUs */
  cores: number;
  logicalCpus: number;
  /** mean of the "cpu MHz" lines, or null when /proc/cpuinfo has none */
  mhz: number | null;
  avx2Fma: boolean;
}

/** float32 flops per cycle per core with AVX2 FMA: 2 FMA units x 8 lanes x 2 flops */
export const FLOPS_PER_CYCLE = 32;

export function machineInfo(): MachineInfo {
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // not Linux: leave the peak unknown
  }
  const blocks = text.split(/\n\s*\n/).filter((b) => /^processor\s*:/m.test(b));
  const field = (b: string, name: string): string | undefined => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(b)?.[1];
  const mhzs = blocks.map((b) => Number(field(b, 'cpu MHz'))).filter((x) => Number.isFinite(x) && x > 0);
  const coreIds = new Set(blocks.map((b) => `${field(b, 'physical id') ?? '?'}/${field(b, 'core id') ?? 'cpu' + String(field(b, 'processor'))}`));
  const flags = new Set((blocks[0] ? field(blocks[0], 'flags') ?? '' : '').split(/\s+/));
  const logicalCpus = blocks.length || availableParallelism();
  return {
    model: (blocks[0] && field(blocks[0], 'model name')) || 'unknown CPU',
    cores: blocks.length ? coreIds.size : logicalCpus,
    logicalCpus,
    mhz: mhzs.length ? mhzs.reduce((a, x) => a + x, 0) / mhzs.length : null,
    avx2Fma: flags.has('avx2') && flags.has('fma'),
  };
}

/** Nominal peak GFLOP/s for `threads` threads: min(threads, cores) x GHz x 32, or null if the clock is unknown. */
export function nominalPeakGflops(info: MachineInfo, threads: number): number | null {
  if (info.mhz === null) return null;
  return Math.min(threads, info.cores) * (info.mhz / 1000) * FLOPS_PER_CYCLE;
}
