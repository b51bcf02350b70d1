/**
 * `bigdl info`, `bigdl evaluate` and `bigdl predict` on a saved model file. Evaluation and
 * prediction apply the normalisation recorded in the file by `bigdl train`.
 */
import { parseArgs } from 'node:util';
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { loadModel, readModelHeader } from '../serialization/index.js';
import { evaluate, predict } from '../optim/predictor.js';
import { Top1Accuracy, Top5Accuracy, Loss } from '../optim/validation.js';
import { ClassNLLCriterion } from '../nn/criterion.js';
import type { Tensor } from '../tensor/tensor.js';
import * as ops from '../tensor/ops.js';
import type { Module } from '../nn/module.js';
import { CliUsageError, loadImageData, standardized, type Normalization } from './datasets.js';
import { int } from './args.js';

export const INFO_USAGE = `usage: bigdl info <model file>

Checks the file (magic, version, lengths, SHA-256) and prints its metadata, the architecture with
parameter counts, and what it was trained on.`;

export const EVALUATE_USAGE = `usage: bigdl evaluate <model file> [--data fashion-mnist] [--data-dir DIR] [--split test|train] [--batch-size N] [--threads N]

Prints Top1Accuracy, Top5Accuracy and Loss of a classifier saved by bigdl train on a data split.`;

export const PREDICT_USAGE = `usage: bigdl predict <model file> [--data fashion-mnist] [--data-dir DIR] [--split test|train] [--limit N] [--out FILE.csv] [--batch-size N] [--threads N]

Writes one CSV line per record: index, predicted class, its probability (stdout without --out).`;

interface Trained {
  model: Module<any, any>;
  user: Record<string, unknown>;
}

async function load(path: string | undefined, usage: string): Promise<Trained> {
  if (!path) throw new CliUsageError(`a model file is needed\n${usage}`);
  const { model, metadata } = await loadModel(path);
  return { model, user: metadata.user };
}

function normalizationOf(user: Record<string, unknown>, path: string): Normalization {
  const n = user.normalization as Normalization | undefined;
  if (!n || typeof n.mean !== 'number' || typeof n.std !== 'number') {
    throw new CliUsageError(`${path} has no recorded input normalisation (it was not saved by bigdl train); evaluate it from code with model.evaluate(data, methods)`);
  }
  return n;
}

const dataOptions = {
  data: { type: 'string', default: 'fashion-mnist' },
  'data-dir': { type: 'string' },
  split: { type: 'string', default: 'test' },
  'batch-size': { type: 'string', default: '1000' },
  threads: { type: 'string' },
  help: { type: 'boolean', default: false },
} as const;

function split(values: { data?: string; 'data-dir'?: string; split?: string }, norm: Normalization) {
  if (values.split !== 'test' && values.split !== 'train') throw new CliUsageError(`--split must be test or train, got '${values.split}'`);
  const data = loadImageData(values.data!, values['data-dir']);
  return standardized(values.split === 'test' ? data.test : data.train, norm);
}

export async function runInfo(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { help: { type: 'boolean', default: false } }, allowPositionals: true });
  if (values.help) {
    console.log(INFO_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new CliUsageError(`give exactly one model file\n${INFO_USAGE}`);
  const path = positionals[0];
  const bytes = new Uint8Array(readFileSync(path));
  const { formatVersion, header } = readModelHeader(bytes);
  const { model, metadata } = await loadModel(path);
  console.log(`file: ${path} (${bytes.length.toLocaleString('en-US')} bytes, format v${formatVersion}, checksum ok)`);
  console.log(`saved: ${metadata.createdAt} by bigdl-ts ${metadata.libraryVersion}`);
  console.log(`model: ${metadata.modelClass ?? 'object'}, ${model.parameterCount().toLocaleString('en-US')} parameters, ${header.blobs.length} data blocks`);
  if (Object.keys(metadata.user).length) console.log(`metadata: ${JSON.stringify(metadata.user)}`);
  console.log(model.toString());
  return 0;
}

export async function runEvaluate(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: dataOptions, allowPositionals: true });
  if (values.help) {
    console.log(EVALUATE_USAGE);
    return 0;
  }
  const { model, user } = await load(positionals[0], EVALUATE_USAGE);
  const data = split(values, normalizationOf(user, positionals[0]));
  const results = await evaluate(model, data, [new Top1Accuracy(), new Top5Accuracy(), new Loss(new ClassNLLCriterion())], {
    batchSize: int('--batch-size', values['batch-size']!, 1), cores: values.threads ? int('--threads', values.threads, 1) : undefined,
  });
  for (const r of results) console.log(r.toString());
  return 0;
}

export async function runPredict(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, options: { ...dataOptions, limit: { type: 'string' }, out: { type: 'string' } }, allowPositionals: true,
  });
  if (values.help) {
    console.log(PREDICT_USAGE);
    return 0;
  }
  const { model, user } = await load(positionals[0], PREDICT_USAGE);
  let data = split(values, normalizationOf(user, positionals[0]));
  if (values.limit !== undefined) {
    const limit = int('--limit', values.limit, 1);
    const items = (await data.toArray()).slice(0, limit);
    const { DataSet } = await import('../data/dataset.js');
    data = DataSet.array(items);
  }
  const out = (await predict(model, data, {
    batchSize: int('--batch-size', values['batch-size']!, 1), cores: values.threads ? int('--threads', values.threads, 1) : undefined,
  })) as Tensor;
  // outputs are log-probabilities (LogSoftMax): report the winning class and its probability
  const best = ops.max(out, 1);
  const cls = best.indices.toArray(), logp = best.values.toArray();
  const lines = ['index,class,probability', ...cls.map((c, i) => `${i},${c},${Math.exp(logp[i]).toFixed(6)}`)];
  const text = `${lines.join('\n')}\n`;
  if (values.out) {
    writeFileSync(`${values.out}.tmp`, text);
    renameSync(`${values.out}.tmp`, values.out);
    console.log(`${cls.length} predictions written to ${values.out}`);
  } else {
    process.stdout.write(text);
  }
  return 0;
}
