/**
 * The PyTorch process of the models bench (bench/ref/torch_models.py under /usr/bin/python3): it
 * stays running and answers one JSON request per line, so the bench times each model in PyTorch
 * and in TypeScript back to back. Starting it returns the process or a one-line reason it is not
 * available (python3 or torch missing); that does not stop the bench.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../src/util/package-root.js';
import type { Timing, TimingConfig } from './harness.js';
import { OPENBLAS_OPENMP_DIR, PYTHON, TORCH_MISSING, type Started, type TorchInfo } from './refs.js';

/** The loop timing both sides use: harness.ts's method without the rounds (the bench runs those). */
export type LoopTiming = Omit<TimingConfig, 'rounds'>;

/**
 * glibc malloc settings for the PyTorch process: keep freed blocks in the heap instead of
 * returning every large activation to the kernel (mmap/munmap per tensor, then page faults on
 * first touch at every iteration). PyTorch's CPU performance guide recommends a caching allocator
 * (jemalloc/tcmalloc) for the same reason; our side reuses its buffers across iterations.
 */
export const TORCH_MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184';

/**
 * Debian's PyTorch links libblas.so.3, which resolves to the pthread build of OpenBLAS: its
 * threads then fight PyTorch's own OpenMP threads for the cores (on 2 cores the LSTM step went
 * from ~55 ms to 250-380 ms median, with 3 s outliers). Putting the OpenMP build first — the
 * library our addon links — makes PyTorch's GEMMs run on the same OpenBLAS and thread pool as ours.
 */
export const TORCH_BLAS_DIR = OPENBLAS_OPENMP_DIR;

/** The first line torch_models.py prints. */
export interface TorchModelsInfo extends TorchInfo {
  /** OMP_WAIT_POLICY, OPENBLAS_CORETYPE, GLIBC_TUNABLES as the process saw them */
  env?: Record<string, string>;
  /** BLAS shared objects the process mapped */
  blas?: string[];
}

export interface TorchParams { params: number; layers: [string, number][] }
export interface TorchTimes {
  train: Timing; infer: Timing; params: number;
  /** losses of the round's training steps (from the initial weights): step 1, step k, the last (step `steps`) */
  lossFirst: number; lossAtK: number; k: number; lossLast: number; steps: number;
}

export class TorchModelsReference {
  private stderr = '';
  private readonly lines: AsyncIterator<string>;
  /** the first line the process prints (set by start) */
  info: TorchModelsInfo = { torch: '?', threads: 0, mkldnn: false };
  /** environment settings applied to the process (empty: as installed) */
  settings: string[] = [];

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  /**
   * `tuned`: run PyTorch with TORCH_MALLOC_TUNABLES and the OpenMP OpenBLAS (TORCH_BLAS_DIR, when
   * present) — else as installed. Returns the settings applied, for the report.
   */
  static async start(threads: number, tuned: boolean): Promise<Started<TorchModelsReference>> {
    const script = join(packageRoot(), 'bench', 'ref', 'torch_models.py');
    const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(threads) };
    const applied: string[] = [];
    if (tuned) {
      env.GLIBC_TUNABLES = [process.env.GLIBC_TUNABLES, TORCH_MALLOC_TUNABLES].filter((x) => x).join(':');
      applied.push(`GLIBC_TUNABLES=${TORCH_MALLOC_TUNABLES}`);
      if (existsSync(join(TORCH_BLAS_DIR, 'libblas.so.3'))) {
        env.LD_LIBRARY_PATH = [TORCH_BLAS_DIR, process.env.LD_LIBRARY_PATH].filter((x) => x).join(':');
        applied.push(`LD_LIBRARY_PATH=${TORCH_BLAS_DIR}`);
      }
    }
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(PYTHON, [script, JSON.stringify({ threads })], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', () => resolve());
        child.once('error', reject);
      });
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      return { ok: false, reason: /ENOENT/.test(msg) ? TORCH_MISSING : `failed: ${msg}` };
    }
    const ref = new TorchModelsReference(child);
    ref.settings = applied;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => { ref.stderr += d; });
    child.stdin.on('error', () => { /* reported through the next read instead */ });
    try {
      ref.info = await ref.read<TorchModelsInfo>();
      return { ok: true, ref };
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (/No module named '?torch/.test(msg)) return { ok: false, reason: TORCH_MISSING };
      return { ok: false, reason: `failed: ${msg}` };
    }
  }

  private async read<T>(): Promise<T> {
    const next = await this.lines.next();
    if (next.done) {
      await new Promise<void>((resolve) => (this.child.exitCode !== null ? resolve() : this.child.once('close', () => resolve())));
      const lines = this.stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
      const why = lines.find((l) => /error/i.test(l)) ?? lines[lines.length - 1] ?? `exit code ${String(this.child.exitCode)}`;
      throw new Error(`torch_models.py stopped: ${why}`);
    }
    const out = JSON.parse(next.value) as T & { error?: string };
    if (typeof out.error === 'string') throw new Error(`torch_models.py: ${out.error}`);
    return out;
  }

  private request<T>(req: object): Promise<T> {
    this.child.stdin.write(JSON.stringify(req) + '\n');
    return this.read<T>();
  }

  params(spec: object): Promise<TorchParams> {
    return this.request({ op: 'params', spec });
  }

  time(spec: object, train: LoopTiming, infer: LoopTiming): Promise<TorchTimes> {
    return this.request({ op: 'time', spec, train, infer });
  }

  close(): void {
    this.child.stdin.end();
  }
}
