/**
 * Reference processes: OpenBLAS sgemm from C (bench/ref/sgemm_ref.c, compiled here with gcc) and
 * PyTorch CPU (bench/ref/torch_kernels.py under /usr/bin/python3). Both stay running and answer
 * one case per line, so the bench times each case in C, Python and TypeScript back to back (the
 * machine's speed drifts over seconds; interleaving keeps the ratios fair). Starting either
 * returns the process or a one-line reason it is not available; neither failure stops the bench.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ConvParams } from '../src/backend/backend.js';
import { packageRoot } from '../src/util/package-root.js';
import type { Timing, TimingConfig } from './harness.js';

export const OPENBLAS_OPENMP_DIR = '/usr/lib/x86_64-linux-gnu/openblas-openmp';
export const PYTHON = '/usr/bin/python3';
export const TORCH_MISSING = 'not available (apt-get install python3-torch)';

export interface GemmShape { ta: boolean; tb: boolean; m: number; n: number; k: number }
export type Started<T> = { ok: true; ref: T } | { ok: false; reason: string };

export interface CInfo {
  threads: number;
  openblasThreads: number;
  /** AVX2 FMA loop on every thread */
  measuredPeakGflops: number;
  /** the same with AVX-512, null when the CPU lacks it */
  measuredPeakAvx512Gflops: number | null;
}
export interface TorchInfo { torch: string; threads: number; mkldnn: boolean }
export interface ConvTimings { forward: Timing; backwardData: Timing; backwardWeights: Timing }

/** The first line mentioning an error, else the last line: what to quote from a tool's stderr. */
function errorLine(s: string): string {
  const lines = s.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.find((l) => /error/i.test(l)) ?? lines[lines.length - 1] ?? '';
}

/** A child process spoken to in lines: one request line in, one JSON line out. */
class LineChild {
  private stderr = '';
  private readonly lines: AsyncIterator<string>;
  private constructor(readonly name: string, private readonly child: ChildProcessWithoutNullStreams) {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => { this.stderr += d; });
    child.stdin.on('error', () => { /* reported through the next read instead */ });
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  /** Spawns the process and reads its first line (its info). */
  static async start<T>(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<[LineChild, T]> {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', reject);
    });
    await spawned;
    const c = new LineChild(name, child);
    return [c, await c.read<T>()];
  }

  private async read<T>(): Promise<T> {
    const next = await this.lines.next();
    if (next.done) {
      await new Promise<void>((resolve) => (this.child.exitCode !== null ? resolve() : this.child.once('close', () => resolve())));
      throw new Error(`${this.name} stopped: ${errorLine(this.stderr) || `exit code ${String(this.child.exitCode)}`}`);
    }
    return JSON.parse(next.value) as T;
  }

  async request<T>(line: string): Promise<T> {
    this.child.stdin.write(line + '\n');
    return this.read<T>();
  }

  close(): void {
    this.child.stdin.end();
  }
}

/** sgemm_ref.c, compiled into a temporary directory that `close()` removes. */
export class CReference {
  private constructor(private readonly proc: LineChild, readonly info: CInfo, private readonly dir: string) {}

  static async start(threads: number, t: TimingConfig): Promise<Started<CReference>> {
    const src = join(packageRoot(), 'bench', 'ref', 'sgemm_ref.c');
    const dir = mkdtempSync(join(tmpdir(), 'bigdl-bench-'));
    const fail = (reason: string): Started<CReference> => {
      rmSync(dir, { recursive: true, force: true });
      return { ok: false, reason };
    };
    const exe = join(dir, 'sgemm_ref');
    const cc = spawnSync('gcc', ['-O2', '-fopenmp', src, '-o', exe, `-L${OPENBLAS_OPENMP_DIR}`, '-l:libopenblas.so.0',
      `-Wl,-rpath,${OPENBLAS_OPENMP_DIR}`], { encoding: 'utf8' });
    if (cc.error) return fail(`not available: gcc could not run (${cc.error.message}); install gcc`);
    if (cc.status !== 0) return fail(`not available: gcc failed on ${src}: ${errorLine(cc.stderr)} (needs libopenblas0-openmp)`);
    const args = [threads, t.minSeconds, t.minIters, t.maxIters, t.warmup].map(String);
    const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
    try {
      const [proc, info] = await LineChild.start<CInfo>('sgemm_ref', exe, args, env);
      return { ok: true, ref: new CReference(proc, info, dir) };
    } catch (e) {
      return fail(`failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  gemm(g: GemmShape): Promise<Timing> {
    return this.proc.request(`${+g.ta},${+g.tb},${g.m},${g.n},${g.k}`);
  }

  close(): void {
    this.proc.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** torch_kernels.py; "not available" when python3 or torch is missing. */
export class TorchReference {
  private constructor(private readonly proc: LineChild, readonly info: TorchInfo) {}

  static async start(threads: number, t: TimingConfig): Promise<Started<TorchReference>> {
    const script = join(packageRoot(), 'bench', 'ref', 'torch_kernels.py');
    const env = { ...process.env, OMP_NUM_THREADS: String(threads) };
    try {
      const [proc, info] = await LineChild.start<TorchInfo>('torch_kernels.py', PYTHON, [script, JSON.stringify({ threads, ...t })], env);
      return { ok: true, ref: new TorchReference(proc, info) };
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (/ENOENT|No module named '?torch/.test(msg)) return { ok: false, reason: TORCH_MISSING };
      return { ok: false, reason: `failed: ${msg}` };
    }
  }

  gemm(g: GemmShape): Promise<Timing> {
    return this.proc.request(JSON.stringify({ gemm: g }));
  }

  conv(p: ConvParams): Promise<ConvTimings> {
    return this.proc.request(JSON.stringify({ conv: p }));
  }

  close(): void {
    this.proc.close();
  }
}
