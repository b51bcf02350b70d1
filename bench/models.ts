/**
 * `npm run bench -- models`: training and inference throughput (samples/s) of the model zoo —
 * LeNet-5, NeuMF, an LSTM text classifier and Inception-v1 — against the same architectures in
 * PyTorch CPU (bench/ref/torch_models.py), measured in this run with the same batch, shapes,
 * optimiser, thread count and timing method.
 *
 * Training iteration = forward + criterion + backward + SGD(momentum 0.9, dampening 0) update of
 * the flat parameters; inference = forward in evaluation mode. Our side runs on the executors of
 * src/optim/executor.ts: `chooseExecutor('auto')` on the real batch picks one for training (the
 * AutoExecutor, which re-checks its choice while it trains, as in the Optimizer) and one for
 * inference (its candidates' ms/iteration are reported); training "ours" is the AutoExecutor timed
 * as it runs, inference "ours" the executor auto picked; both executors are also timed forced.
 * Each model is measured in rounds (PyTorch, ours-auto, ours-threads, ours-replicas back to back)
 * and the best median of each is kept, as the kernels bench does. Every round of every runner
 * (and of PyTorch) trains from the model's initial weights with a fresh optimiser, so the losses
 * printed are comparable: same steps from the same kind of start (both sides initialise alike:
 * embeddings N(0, 1), Linear/conv U(±1/sqrt(fan_in)); data are each side's own random draws).
 */
import { availableParallelism, loadavg } from 'node:os';
import { setThreads } from '../src/backend/registry.js';
import { InceptionV1, LeNet5, NeuralCF, TextClassifier } from '../src/models/index.js';
import type { Activity, Module } from '../src/nn/module.js';
import { ClassNLLCriterion, type Criterion } from '../src/nn/criterion.js';
import { BCECriterion } from '../src/nn/criterions.js';
import { AUTO_RECHECK, AUTO_TIMING, AutoExecutor, chooseExecutor, preferredKind, type Executor, type ExecutorKind } from '../src/optim/executor.js';
import { SGD } from '../src/optim/sgd.js';
import { Tensor } from '../src/tensor/tensor.js';
import { faster, geomean, randomF32, UsageError, type Timing } from './harness.js';
import { machineInfo } from './machine.js';
import { TorchModelsReference, type LoopTiming, type TorchParams, type TorchTimes } from './models-ref.js';
import { fmt, formatTable } from './table.js';

export const LEARNING_RATE = 0.01;
export const MOMENTUM = 0.9;

export interface ModelCase {
  /** row label */
  name: string;
  /** --only key */
  key: string;
  batch: number;
  /** what the PyTorch side builds (bench/ref/torch_models.py `build`) */
  spec: Record<string, unknown> & { kind: string; batch: number };
  /** one-line description of the setup, printed under the table */
  about: string;
  build(): { model: Module<any, any>; criterion: Criterion<any, any> };
  data(): { input: Activity; target: Activity };
  train: LoopTiming;
  infer: LoopTiming;
  rounds: number;
}

/** Integers uniform in [0, n) from harness.ts's fixed-seed generator. */
function randomInts(length: number, n: number, seed: number): Int32Array {
  const u = randomF32(length, seed);
  const out = new Int32Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.min(n - 1, Math.floor(((u[i] + 1) / 2) * n));
  return out;
}

const quick: LoopTiming = { warmup: 5, minSeconds: 1.5, minIters: 10, maxIters: 10_000 };

export function modelCases(): ModelCase[] {
  const sgd = { lr: LEARNING_RATE, momentum: MOMENTUM };
  const lenet = { classes: 10, batch: 128 };
  const ncf = { users: 6040, items: 3706, embed: 128, mf: 64, hidden: [256, 128, 64], batch: 2048 };
  const text = { vocab: 20000, embed: 100, hidden: 128, seq: 50, classes: 20, batch: 128 };
  const inc = { size: 224, classes: 1000, batch: 16 };
  return [
    {
      name: 'LeNet5', key: 'lenet', batch: lenet.batch, spec: { kind: 'lenet', ...lenet, ...sgd },
      about: 'LeNet5: input [128,1,28,28], 10 classes, LogSoftMax output + ClassNLLCriterion (torch: log_softmax + NLLLoss)',
      build: () => ({ model: LeNet5(lenet.classes), criterion: new ClassNLLCriterion() }),
      data: () => ({
        input: Tensor.from(randomF32(lenet.batch * 784, 11), [lenet.batch, 1, 28, 28]),
        target: Tensor.from(randomInts(lenet.batch, lenet.classes, 12), [lenet.batch]),
      }),
      train: quick, infer: quick, rounds: 4,
    },
    {
      name: 'NeuMF', key: 'neumf', batch: ncf.batch, spec: { kind: 'neumf', ...ncf, ...sgd },
      about: 'NeuMF: NeuralCF(6040 users, 3706 items, output sigmoid, 1 output) as MLPerf NCF: MLP embeddings 128+128 ' +
        '(the "256" layer), hidden 256-128-64, GMF embedding 64; input [2048,2] int32 (user, item) ids, ' +
        'BCECriterion on the sigmoid (torch: sigmoid + BCELoss); dense embedding gradients on both sides',
      build: () => ({
        model: NeuralCF({ userCount: ncf.users, itemCount: ncf.items, userEmbed: ncf.embed, itemEmbed: ncf.embed,
          hiddenLayers: ncf.hidden, mfEmbed: ncf.mf, output: 'sigmoid' }),
        criterion: new BCECriterion(),
      }),
      data: () => {
        const users = randomInts(ncf.batch, ncf.users, 21), items = randomInts(ncf.batch, ncf.items, 22);
        const ids = new Int32Array(2 * ncf.batch);
        for (let i = 0; i < ncf.batch; i++) { ids[2 * i] = users[i]; ids[2 * i + 1] = items[i]; }
        const labels = Float32Array.from(randomInts(ncf.batch, 2, 23));
        return { input: Tensor.from(ids, [ncf.batch, 2]), target: Tensor.from(labels, [ncf.batch, 1]) };
      },
      train: quick, infer: quick, rounds: 4,
    },
    {
      name: 'LSTM text', key: 'lstm', batch: text.batch, spec: { kind: 'lstm', ...text, ...sgd },
      about: 'LSTM text: TextClassifier(vocab 20000, embedding 100, encoder lstm, hidden 128, 20 classes), input ' +
        '[128,50] int32 token ids, last step -> Linear -> LogSoftMax + ClassNLLCriterion (torch: nn.LSTM batch_first)',
      build: () => ({
        model: TextClassifier({ vocabSize: text.vocab, embeddingDim: text.embed, sequenceLength: text.seq,
          classNum: text.classes, encoder: 'lstm', hidden: text.hidden }),
        criterion: new ClassNLLCriterion(),
      }),
      data: () => ({
        input: Tensor.from(randomInts(text.batch * text.seq, text.vocab, 31), [text.batch, text.seq]),
        target: Tensor.from(randomInts(text.batch, text.classes, 32), [text.batch]),
      }),
      train: { warmup: 2, minSeconds: 3, minIters: 5, maxIters: 10_000 },
      infer: { warmup: 3, minSeconds: 2, minIters: 5, maxIters: 10_000 },
      rounds: 4,
    },
    {
      name: 'Inception-v1', key: 'inception', batch: inc.batch, spec: { kind: 'inception', ...inc, ...sgd },
      about: 'Inception-v1: no aux heads, dropout 0.4, input [16,3,224,224], 1000 classes; the model ends in LogSoftMax, ' +
        'so ClassNLLCriterion (= CrossEntropy on the logits; torch: log_softmax + NLLLoss)',
      build: () => ({ model: InceptionV1({ classNum: inc.classes }), criterion: new ClassNLLCriterion() }),
      data: () => ({
        input: Tensor.from(randomF32(inc.batch * 3 * inc.size * inc.size, 41), [inc.batch, 3, inc.size, inc.size]),
        target: Tensor.from(randomInts(inc.batch, inc.classes, 42), [inc.batch]),
      }),
      train: { warmup: 1, minSeconds: 0, minIters: 3, maxIters: 3 },
      infer: { warmup: 1, minSeconds: 0, minIters: 3, maxIters: 3 },
      rounds: 4,
    },
  ];
}

/** harness.ts's `measure` for an async call: `warmup` untimed calls, then timed calls, median. */
export async function measureAsync(fn: () => Promise<unknown>, cfg: LoopTiming): Promise<Timing> {
  for (let i = 0; i < cfg.warmup; i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < cfg.maxIters && (times.length < cfg.minIters || performance.now() - start < cfg.minSeconds * 1000)) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const n = times.length;
  const median = n % 2 ? times[n >> 1] : 0.5 * (times[(n >> 1) - 1] + times[n >> 1]);
  return { iters: n, medianMs: median, minMs: times[0] };
}

/**
 * One executor's training loop state: its SGD (own momentum buffer). Gradients go to the
 * executor's own buffer, as the Optimizer does (for `threads` that is the model's gradient buffer,
 * so no copy per step).
 */
class OursRunner {
  private sgd = new SGD({ learningRate: LEARNING_RATE, momentum: MOMENTUM, dampening: 0 });
  readonly gradients: Tensor;
  private iteration = 0;
  losses: number[] = [];

  constructor(readonly label: RunnerKind, readonly exec: Executor, private readonly input: Activity, private readonly target: Activity,
    private readonly initial: Tensor) {
    this.gradients = exec.gradients;
  }

  /** Before each round: the initial weights, a fresh SGD, iteration 0 (the runners share the weights). */
  reset(): void {
    this.exec.weights.copy_(this.initial);
    this.sgd = new SGD({ learningRate: LEARNING_RATE, momentum: MOMENTUM, dampening: 0 });
    this.iteration = 0;
    this.losses = [];
  }

  /** forward + backward (executor) + SGD update of the flat weights */
  async trainStep(): Promise<void> {
    const loss = await this.exec.trainStep(this.input, this.target, this.gradients, ++this.iteration);
    if (!Number.isFinite(loss)) throw new Error(`${this.exec.kind} executor: loss ${loss} at iteration ${this.iteration}`);
    this.sgd.step(this.exec.weights, this.gradients, loss);
    this.losses.push(loss);
  }

  async inferStep(): Promise<void> {
    await this.exec.predict(this.input);
  }
}

export interface OursTimes { train: Timing; infer: Timing; lossFirst: number; lossAtK: number; k: number; lossLast: number; steps: number }

/** ours: the AutoExecutor as it runs, and each executor forced */
export type RunnerKind = 'auto' | ExecutorKind;

export interface ModelRow {
  c: ModelCase;
  params: number;
  torchParams?: number;
  /** set when the row failed (parameter mismatch, an error): printed loudly, no ratio */
  error?: string;
  /** auto's choice and the ms/iteration it measured per candidate */
  chosen?: ExecutorKind;
  /** auto's choice for inference (timed separately) and its medians */
  chosenInfer?: ExecutorKind;
  measuredInfer?: Partial<Record<ExecutorKind, number>>;
  chosenDescription?: string;
  measured: Partial<Record<ExecutorKind, number>>;
  ours: Partial<Record<RunnerKind, OursTimes>>;
  /** the AutoExecutor's decisions after the first (re-checks while the auto runner trained), its kind at the end, its switches */
  rechecks?: string[];
  autoFinal?: ExecutorKind;
  switches?: number;
  torch?: TorchTimes;
}

export interface ModelsArgs {
  threads: number;
  only: string[] | null;
  /** PyTorch as installed, without TORCH_MALLOC_TUNABLES and the OpenMP OpenBLAS */
  torchAsInstalled: boolean;
}

/** --threads N (else BIGDL_THREADS, else all cores), --only key,key, --torch-as-installed. */
export function parseModelsArgs(args: readonly string[]): ModelsArgs {
  let threadsArg: string | undefined = process.env.BIGDL_THREADS || undefined;
  let source = 'BIGDL_THREADS';
  let only: string[] | null = null;
  let torchAsInstalled = false;
  const keys = modelCases().map((c) => c.key);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = (name: string): string => {
      if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1);
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      return v;
    };
    if (arg === '--threads' || arg.startsWith('--threads=')) {
      threadsArg = value('--threads');
      source = '--threads';
    } else if (arg === '--only' || arg.startsWith('--only=')) {
      only = value('--only').split(',').map((s) => s.trim()).filter((s) => s !== '');
      const bad = only.filter((k) => !keys.includes(k));
      if (bad.length) throw new UsageError(`--only: unknown model(s) ${bad.join(', ')} (known: ${keys.join(', ')})`);
    } else if (arg === '--torch-as-installed') {
      torchAsInstalled = true;
    } else {
      throw new UsageError(`unknown option '${arg}' (models takes --threads N, --only ${keys.join(',')}, --torch-as-installed)`);
    }
  }
  if (threadsArg === undefined) return { threads: availableParallelism(), only, torchAsInstalled };
  const n = Number(threadsArg);
  if (!/^\s*\d+\s*$/.test(threadsArg) || !Number.isInteger(n) || n < 1) throw new UsageError(`${source} '${threadsArg}' must be a positive integer`);
  return { threads: n, only, torchAsInstalled };
}

function log(msg: string): void {
  process.stderr.write(`bench models: ${msg}\n`);
}

const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');

function keepBest(prev: OursTimes | undefined, next: OursTimes): OursTimes {
  if (!prev) return next;
  return { ...next, train: faster(prev.train, next.train)!, infer: faster(prev.infer, next.infer)! };
}

/** set when the PyTorch process failed: later rows are ours only */
let torchFailed: string | undefined;

export async function runModel(c: ModelCase, threads: number, torch: TorchModelsReference | null): Promise<ModelRow> {
  const { model, criterion } = c.build();
  const row: ModelRow = { c, params: model.parameterCount(), measured: {}, ours: {} };
  if (torch && !torchFailed) {
    let tp: TorchParams;
    try {
      tp = await torch.params(c.spec);
    } catch (e) {
      row.error = `FAILED: PyTorch could not build ${c.name}: ${e instanceof Error ? e.message : String(e)}`;
      log(`${c.name}: ${row.error}`);
      return row;
    }
    row.torchParams = tp.params;
    log(`${c.name}: ${row.params} parameters (ours), ${tp.params} (PyTorch)`);
    if (tp.params !== row.params) {
      row.error = `PARAMETER COUNT MISMATCH: ours ${row.params}, PyTorch ${tp.params} — not the same architecture, row not compared`;
      log(`${c.name}: ${row.error}`);
      log(`  PyTorch layers: ${tp.layers.map(([n, k]) => `${n}=${k}`).join(' ')}`);
      log(`  our layers: ${model.namedParameters().map((p) => `${p.name}=${p.weight.numel}`).join(' ')}`);
      return row;
    }
  }
  const { input, target } = c.data();
  log(`${c.name}: choosing the executor (auto, batch ${c.batch})`);
  const choice = await chooseExecutor(model, criterion, 'auto', threads, { input, target }, { timeInference: true });
  row.chosen = choice.executor.kind;
  row.chosenInfer = choice.inference?.kind;
  row.measuredInfer = choice.inference?.measured ?? {};
  row.chosenDescription = choice.executor.description;
  row.measured = choice.measured;
  const auto = choice.executor instanceof AutoExecutor ? choice.executor : undefined;
  // auto's timing steps changed no weights: every round of every runner starts from these
  const initial = choice.executor.weights.clone();
  try {
    const runners = auto
      ? [new OursRunner('auto', auto, input, target, initial), new OursRunner('threads', auto.threads, input, target, initial),
        new OursRunner('replicas', auto.replicas, input, target, initial)]
      : [new OursRunner(choice.executor.kind, choice.executor, input, target, initial)];
    for (let round = 1; round <= c.rounds; round++) {
      if (torch && !torchFailed) {
        log(`${c.name}: round ${round}/${c.rounds}: PyTorch`);
        try {
          const t = await torch.time(c.spec, c.train, c.infer);
          row.torch = row.torch ? { ...t, train: faster(row.torch.train, t.train)!, infer: faster(row.torch.infer, t.infer)! } : t;
        } catch (e) {
          torchFailed = `PyTorch failed on ${c.name}: ${e instanceof Error ? e.message : String(e)}`;
          log(torchFailed);
        }
      }
      for (const r of runners) {
        log(`${c.name}: round ${round}/${c.rounds}: ours, ${r.label === 'auto' ? 'auto: ' : ''}${r.exec.description} (${r.exec.kind})`);
        r.reset();
        const train = await measureAsync(() => r.trainStep(), c.train);
        const infer = await measureAsync(() => r.inferStep(), c.infer);
        const k = Math.min(r.losses.length, c.train.warmup + c.train.minIters);
        row.ours[r.label] = keepBest(row.ours[r.label], {
          train, infer, lossFirst: r.losses[0], lossAtK: r.losses[k - 1], k, lossLast: r.losses[r.losses.length - 1], steps: r.losses.length,
        });
      }
    }
    if (auto) {
      row.autoFinal = auto.kind;
      row.switches = auto.stats.switches;
      row.rechecks = auto.decisions.slice(1).map((d) =>
        `step ${d.step} ${d.reason}: threads ${fmt(d.measured.threads, 1)} / replicas ${fmt(d.measured.replicas, 1)} ms -> ${d.kind}`);
    }
  } catch (e) {
    row.error = `FAILED: ${e instanceof Error ? e.message : String(e)}`;
    log(`${c.name}: ${row.error}`);
  } finally {
    await choice.executor.close();
  }
  return row;
}

const describeLoop = (t: LoopTiming): string =>
  `${t.warmup} warm-up, then >= ${t.minIters} calls` + (t.minSeconds > 0 ? ` and >= ${t.minSeconds} s` : '') + (t.maxIters < 1000 ? ` (at most ${t.maxIters})` : '');
const perSecond = (batch: number, t: Timing | undefined): number | undefined => (t ? (batch * 1000) / t.medianMs : undefined);
const ratio = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : `${x.toFixed(2)}x`);
const rate = (x: number | undefined): string => (x === undefined ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(1));

export function printModelsReport(rows: ModelRow[], threads: number, torchInfo: string, loadStart: string, seconds: number): number {
  const m = machineInfo();
  const trainRatios: number[] = [], inferRatios: number[] = [];
  let failed = 0;
  const main = rows.map((r) => {
    if (r.error) failed++;
    const ours = r.ours.auto ?? (r.chosen ? r.ours[r.chosen] : undefined);
    const oursInfer = r.chosenInfer ? r.ours[r.chosenInfer] : r.chosen ? r.ours[r.chosen] : undefined;
    const oT = perSecond(r.c.batch, ours?.train), oI = perSecond(r.c.batch, oursInfer?.infer);
    const tT = r.error ? undefined : perSecond(r.c.batch, r.torch?.train), tI = r.error ? undefined : perSecond(r.c.batch, r.torch?.infer);
    const rT = oT !== undefined && tT !== undefined ? oT / tT : undefined;
    const rI = oI !== undefined && tI !== undefined ? oI / tI : undefined;
    if (rT !== undefined) trainRatios.push(rT);
    if (rI !== undefined) inferRatios.push(rI);
    const cand = (k: ExecutorKind): string => `${fmt(r.measured[k], 1)} / ${fmt(r.measuredInfer?.[k], 1)}`;
    return [r.c.name + (r.error ? ' (!)' : ''), String(r.c.batch), rate(oT), rate(tT), ratio(rT), rate(oI), rate(tI), ratio(rI),
      `${r.chosen ?? '-'}${r.autoFinal && r.autoFinal !== r.chosen ? ` -> ${r.autoFinal}` : ''}` +
        `${r.rechecks?.length ? ` (${r.rechecks.length} re-check${r.rechecks.length > 1 ? 's' : ''}, ${r.switches} switch${r.switches === 1 ? '' : 'es'})` : ''}` +
        ` / ${r.chosenInfer ?? r.chosen ?? '-'}`,
      cand('threads'), cand('replicas')];
  });
  const table = formatTable([
    { title: 'model' }, { title: 'batch', align: 'right' },
    { title: 'ours train/s', align: 'right' }, { title: 'torch train/s', align: 'right' }, { title: 'ratio', align: 'right' },
    { title: 'ours infer/s', align: 'right' }, { title: 'torch infer/s', align: 'right' }, { title: 'ratio', align: 'right' },
    { title: 'executor train (auto: first -> last) / infer' }, { title: 'auto: threads ms/it', align: 'right' }, { title: 'replicas ms/it', align: 'right' },
  ], main);

  const forced = rows.map((r) => {
    const th = r.ours.threads, rp = r.ours.replicas, au = r.ours.auto;
    const win = (a: Timing | undefined, b: Timing | undefined): string =>
      a && b ? (a.medianMs <= b.medianMs ? `threads ${(b.medianMs / a.medianMs).toFixed(2)}x` : `replicas ${(a.medianMs / b.medianMs).toFixed(2)}x`) : '-';
    const ms = (t: Timing | undefined): string => (t ? `${rate(perSecond(r.c.batch, t))} (${fmt(t.medianMs, 1)} ms)` : '-');
    const best = th && rp ? Math.min(th.train.medianMs, rp.train.medianMs) : undefined;
    return [r.c.name, ms(au?.train), ms(th?.train), ms(rp?.train), win(th?.train, rp?.train),
      au && best !== undefined ? `${(best / au.train.medianMs).toFixed(2)}x` : '-', ms(th?.infer), ms(rp?.infer), win(th?.infer, rp?.infer),
      r.torch ? `${fmt(r.torch.train.medianMs, 1)} / ${fmt(r.torch.infer.medianMs, 1)} ms` : '-'];
  });
  const forcedTable = formatTable([
    { title: 'model' }, { title: 'auto train/s (ms/it)', align: 'right' }, { title: 'threads train/s (ms/it)', align: 'right' },
    { title: 'replicas train/s (ms/it)', align: 'right' }, { title: 'faster train' }, { title: 'auto / faster', align: 'right' }, { title: 'threads infer/s (ms/it)', align: 'right' }, { title: 'replicas infer/s (ms/it)', align: 'right' },
    { title: 'faster infer' }, { title: 'torch train / infer', align: 'right' },
  ], forced);

  const details = rows.map((r) => {
    const parts = [`${r.c.name}: ${r.params.toLocaleString('en-US')} parameters ours` +
      (r.torchParams === undefined ? '' : `, ${r.torchParams.toLocaleString('en-US')} PyTorch`)];
    type Losses = { lossFirst: number; lossAtK: number; k: number; lossLast: number; steps: number };
    const loss = (t: Losses | undefined): string =>
      (t ? `${fmt(t.lossFirst, 4)} -> ${fmt(t.lossAtK, 4)} (step ${t.k}) -> ${fmt(t.lossLast, 4)} (step ${t.steps})` : '-');
    parts.push(`loss from the initial weights over the last round: torch ${loss(r.torch)}, auto ${loss(r.ours.auto)}, ` +
      `threads ${loss(r.ours.threads)}, replicas ${loss(r.ours.replicas)}`);
    const iters = (t: Timing | undefined): string => (t ? String(t.iters) : '-');
    parts.push(`timed iterations (train/infer): torch ${iters(r.torch?.train)}/${iters(r.torch?.infer)}, auto ${iters(r.ours.auto?.train)}, ` +
      `threads ${iters(r.ours.threads?.train)}/${iters(r.ours.threads?.infer)}, replicas ${iters(r.ours.replicas?.train)}/${iters(r.ours.replicas?.infer)}`);
    if (r.rechecks?.length) parts.push(`auto re-checks: ${r.rechecks.join(', ')}`);
    if (r.error) parts.push(r.error);
    return '  ' + parts.join('; ');
  });

  const g = (xs: number[]): string => (xs.length ? `${geomean(xs).toFixed(2)}x` : 'n/a');
  // right = what auto's rule (threads unless replicas faster by the margin) picks from the forced medians
  const chosenRight = rows.filter((r) => r.chosen && r.ours.threads && r.ours.replicas).map((r) =>
    preferredKind({ threads: r.ours.threads!.train.medianMs, replicas: r.ours.replicas!.train.medianMs }) === r.chosen);
  const chosenRightInfer = rows.filter((r) => r.chosenInfer && r.ours.threads && r.ours.replicas).map((r) =>
    preferredKind({ threads: r.ours.threads!.infer.medianMs, replicas: r.ours.replicas!.infer.medianMs }) === r.chosenInfer);
  console.log([
    `BigDL.ts models benchmark: native backend, ${threads} thread(s); CPU: ${m.model}, ${m.cores} core(s)`,
    `PyTorch: ${torchInfo}`,
    ...(torchFailed ? [`PyTorch stopped during the run, later rows are ours only: ${torchFailed}`] : []),
    `load average (1/5/15 min): ${loadStart} at start, ${load()} at the end (the machine is shared: timings are noisy)`,
    `training: forward + criterion + backward + SGD(lr ${LEARNING_RATE}, momentum ${MOMENTUM}, dampening 0) on the flat ` +
      `parameters; inference: forward in evaluation mode (torch: eval() + no_grad()); same random batch every iteration`,
    'timing: per iteration, warm-up calls first, then calls until a minimum time and count, each timed alone, median; ' +
      'rounds of PyTorch / ours-auto / ours-threads / ours-replicas back to back, best median kept; each round trains from ' +
      'the initial weights with a fresh optimiser',
    ...rows.map((r) => `  ${r.c.name}: ${r.c.rounds} round(s); train ${describeLoop(r.c.train)}; inference ${describeLoop(r.c.infer)}`),
    '',
    table,
    ...rows.filter((r) => r.error).map((r) => `!! ${r.c.name}: ${r.error}`),
    '',
    'samples/s = batch / median iteration time; ratio = ours / torch (above 1: faster than PyTorch); "ours" train = the ' +
      'AutoExecutor chooseExecutor(auto) returns, timed as it runs (re-checks included), "ours" infer = the executor it ' +
      `picked for inference; the first choice from medians of ${AUTO_TIMING.minSteps}-${AUTO_TIMING.maxSteps} alternating ` +
      `steps per candidate after ${AUTO_TIMING.warmup} warm-up (the "auto" ms/it columns: train / infer), threads unless ` +
      `replicas are ${AUTO_RECHECK.margin}x faster; re-checked on a ${Math.round(AUTO_RECHECK.drift * 100)}% drift of the step ` +
      `time or every ${AUTO_RECHECK.every} steps`,
    '',
    'ours with each executor forced (threads = 1 model x N intra-op threads; replicas = N workers x 1 thread):',
    forcedTable,
    '',
    ...rows.map((r) => `  ${r.c.about}`),
    ...details,
    '',
    `summary: train ${g(trainRatios)} PyTorch, inference ${g(inferRatios)} PyTorch (geomean over ${trainRatios.length} model(s)); ` +
      `auto's first choice agreed with its rule on the forced timings for training in ${chosenRight.filter((x) => x).length}/${chosenRight.length}, ` +
      `for inference in ${chosenRightInfer.filter((x) => x).length}/${chosenRightInfer.length}; ` +
      `${failed ? `${failed} row(s) FAILED; ` : ''}bench took ${fmt(seconds, 1)} s`,
  ].join('\n'));
  return failed ? 1 : 0;
}

export async function runModelsBench(args: readonly string[]): Promise<number> {
  const started = performance.now();
  const loadStart = load();
  torchFailed = undefined;
  const { threads, only, torchAsInstalled } = parseModelsArgs(args);
  setThreads(threads);
  const cases = modelCases().filter((c) => !only || only.includes(c.key));
  log(`starting the PyTorch reference (${threads} thread(s))`);
  const started_ = await TorchModelsReference.start(threads, !torchAsInstalled);
  const torch = started_.ok ? started_.ref : null;
  const envOf = (e: Record<string, string | undefined>): string =>
    ['OMP_WAIT_POLICY', 'OPENBLAS_CORETYPE'].map((k) => `${k}=${e[k] ?? '(unset)'}`).join(' ');
  const torchEnv = started_.ok
    ? `PyTorch process: ${envOf(started_.ref.info.env ?? {})}, BLAS ${(started_.ref.info.blas ?? []).filter((b) => /\/libopenblas[^/]*$/.test(b)).join(' ') || (started_.ref.info.blas ?? []).join(' ')}`
    : '';
  const oursEnv = `ours: ${envOf(process.env)} (OMP_WAIT_POLICY passive is the addon's default unless set; the PyTorch ` +
    'process inherits this environment), OpenBLAS from the OpenMP build';
  const torchInfo = started_.ok
    ? `${started_.ref.info.torch}, ${started_.ref.info.threads} thread(s), mkldnn ${started_.ref.info.mkldnn ? 'on' : 'off'}; ` +
      (started_.ref.settings.length === 0 ? 'as installed (--torch-as-installed)'
        : `tuned: ${started_.ref.settings.join(', ')} (malloc keeps freed activations instead of page-faulting them ` +
          'in again every iteration; the OpenMP build of OpenBLAS, the one our addon links, instead of Debian\'s pthread ' +
          'build whose threads fight PyTorch\'s OpenMP threads; --torch-as-installed for neither)')
    : `${started_.reason} — printing ours only`;
  if (!started_.ok) log(`PyTorch ${started_.reason}; printing ours only`);
  const rows: ModelRow[] = [];
  try {
    for (const c of cases) {
      try {
        rows.push(await runModel(c, threads, torch));
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        log(`${c.name}: FAILED: ${msg}`);
        rows.push({ c, params: NaN, measured: {}, ours: {}, error: `FAILED: ${msg}` });
      }
    }
  } finally {
    torch?.close();
  }
  return printModelsReport(rows, threads, [torchInfo, torchEnv, oursEnv].filter((x) => x).join('\n  '), loadStart,
    (performance.now() - started) / 1e3);
}
