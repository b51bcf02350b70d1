/**
 * `npm run bench -- lenet`: the main demo's recipe (LeNet-5 on Fashion-MNIST, SGD lr 0.05,
 * momentum 0.9, learningRateDecay 3e-4, batch 128) trained by BigDL.ts and by PyTorch CPU
 * (bench/ref/torch_lenet_fmnist.py) in the same run with the same threads: per-epoch test
 * accuracy and training throughput side by side.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { RNG } from '../src/tensor/random.js';
import { LeNet5 } from '../src/models/lenet.js';
import { ClassNLLCriterion } from '../src/nn/criterion.js';
import { SGD } from '../src/optim/sgd.js';
import { Optimizer } from '../src/optim/optimizer.js';
import { Trigger } from '../src/optim/trigger.js';
import { Top1Accuracy } from '../src/optim/validation.js';
import { loadImageData, pixelStats, standardized } from '../src/cli/datasets.js';
import { packageRoot } from '../src/util/package-root.js';
import { UsageError } from './harness.js';
import { PYTHON, TORCH_MISSING } from './refs.js';
import { formatTable } from './table.js';

interface TorchEpoch { epoch: number; accuracy: number; train_seconds: number; samples_per_second: number }

function option(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new UsageError(`--${name} needs a positive integer, got '${args[i + 1]}'`);
  return v;
}

export async function runLenetBench(args: readonly string[]): Promise<number> {
  for (const a of args) if (a.startsWith('--') && !['--epochs', '--threads', '--seed', '--lr-decay'].includes(a)) throw new UsageError(`unknown option '${a}'`);
  const epochs = option(args, 'epochs', 10), threads = option(args, 'threads', availableParallelism()), seed = option(args, 'seed', 1);
  const d = args.indexOf('--lr-decay');
  const lrDecay = d < 0 ? 3e-4 : Number(args[d + 1]);
  if (!(lrDecay >= 0)) throw new UsageError(`--lr-decay needs a number >= 0, got '${args[d + 1]}'`);

  process.stderr.write(`bench lenet: BigDL.ts, ${epochs} epochs on ${threads} core(s)\n`);
  const data = loadImageData('fashion-mnist');
  const norm = pixelStats(data.train);
  RNG.setSeed(seed);
  const opt = new Optimizer({
    model: LeNet5(), trainingSet: standardized(data.train, norm), criterion: new ClassNLLCriterion(),
    optimMethod: new SGD({ learningRate: 0.05, momentum: 0.9, dampening: 0, learningRateDecay: lrDecay }), batchSize: 128,
    endWhen: Trigger.maxEpoch(epochs), seed, cores: threads, progress: 'quiet',
  }).setValidation(Trigger.everyEpoch(), standardized(data.test, norm), [new Top1Accuracy()], 1000);
  await opt.optimize();

  process.stderr.write(`bench lenet: PyTorch, ${epochs} epochs on ${threads} thread(s)\n`);
  const script = join(packageRoot(), 'bench', 'ref', 'torch_lenet_fmnist.py');
  const r = spawnSync(PYTHON, [script, String(epochs), String(threads), String(seed), String(lrDecay)], {
    encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) }, maxBuffer: 1 << 24,
  });
  const torch: TorchEpoch[] = r.status === 0 ? r.stdout.trim().split('\n').map((l) => JSON.parse(l) as TorchEpoch) : [];
  const torchNote = r.status === 0 ? '' : r.error || /No module named/.test(r.stderr) ? TORCH_MISSING : `failed: ${r.stderr.trim().split('\n').pop()}`;

  const rows = opt.epochHistory.map((e, i) => {
    const ours = opt.validationHistory[i]?.results[0].value ?? NaN;
    const t = torch[i];
    return [String(e.epoch), (100 * ours).toFixed(2), t ? (100 * t.accuracy).toFixed(2) : '-',
      Math.round(e.samples / e.seconds).toLocaleString('en-US'), t ? Math.round(t.samples_per_second).toLocaleString('en-US') : '-',
      t ? `${((e.samples / e.seconds) / t.samples_per_second).toFixed(2)}x` : '-'];
  });
  console.log(`LeNet-5 on Fashion-MNIST, SGD lr 0.05 momentum 0.9 lr-decay ${lrDecay}, batch 128, seed ${seed}, ${threads} thread(s); ours: ${opt.lastExecutor?.description}`);
  if (torchNote) console.log(`PyTorch: ${torchNote}`);
  console.log(formatTable(['epoch', 'ours acc %', 'torch acc %', 'ours train samples/s', 'torch train samples/s', 'ratio'].map((title) => ({ title, align: 'right' as const })), rows));
  const best = (xs: number[]) => Math.max(...xs);
  const oursTput = opt.epochHistory.reduce((a, e) => a + e.samples, 0) / opt.epochHistory.reduce((a, e) => a + e.seconds, 0);
  const torchTput = torch.length ? torch.length * 60000 / torch.reduce((a, t) => a + t.train_seconds, 0) : NaN;
  console.log(`best accuracy: ours ${(100 * best(opt.validationHistory.map((v) => v.results[0].value))).toFixed(2)}%` +
    (torch.length ? `, PyTorch ${(100 * best(torch.map((t) => t.accuracy))).toFixed(2)}%` : '') +
    `; training throughput: ours ${Math.round(oursTput).toLocaleString('en-US')} samples/s` +
    (torch.length ? `, PyTorch ${Math.round(torchTput).toLocaleString('en-US')} samples/s (${(oursTput / torchTput).toFixed(2)}x)` : ''));
  return 0;
}
