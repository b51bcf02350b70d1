/**
 * Checkpoints: a model file (docs/MODEL_FORMAT.md) whose `extra` holds where training stood and
 * the optimiser's state. Written atomically (temp file + rename), so a crash while writing keeps
 * the previous checkpoint.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Module } from '../nn/module.js';
import { loadModel, saveModel } from '../serialization/index.js';
import type { SavedState } from './optim-method.js';

export interface CheckpointState {
  epoch: number;
  iteration: number;
  epochFinished: boolean;
  /** batches of `epoch` already trained on */
  batchInEpoch: number;
  loss: number | null;
  score: number | null;
  seed: number;
  optimMethod: SavedState;
}

const KIND = 'bigdl-ts checkpoint';

export async function writeCheckpoint(dir: string, file: string, model: Module<any, any>, state: CheckpointState): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, file);
  await saveModel(path, model, { metadata: { kind: KIND, epoch: state.epoch, iteration: state.iteration }, extra: { checkpoint: state } });
  return path;
}

/**
 * Reads a checkpoint into `model` (which must have the same architecture): parameters and buffers
 * are copied into the model's own tensors, so views onto them (flat buffers, shared memory) see
 * the restored values. Returns where training stood.
 */
export async function readCheckpoint(path: string, model: Module<any, any>): Promise<CheckpointState> {
  const loaded = await loadModel(path);
  const state = (loaded.extra as { checkpoint?: CheckpointState } | undefined)?.checkpoint;
  if (!state || typeof state.iteration !== 'number') {
    throw new RangeError(`resume: ${path} is a model file but not a checkpoint (no training state in it); to start from its weights, load it with loadModel and train that model`);
  }
  copyState(loaded.model, model, path);
  return state;
}

/** Copies parameters and buffers from `from` into `to`, checking that names and shapes agree. */
export function copyState(from: Module<any, any>, to: Module<any, any>, source: string): void {
  const src = from.namedParameters(), dst = to.namedParameters();
  if (src.length !== dst.length) {
    throw new RangeError(`${source}: the saved model has ${src.length} parameter tensors, this model ${dst.length}: it is a different architecture`);
  }
  src.forEach((p, i) => {
    const q = dst[i];
    if (p.weight.shape.join() !== q.weight.shape.join()) {
      throw new RangeError(`${source}: parameter ${p.name} is [${p.weight.shape}] in the file but ${q.name} is [${q.weight.shape}] in this model`);
    }
  });
  const sb = from.namedBuffers(), db = to.namedBuffers();
  if (sb.length !== db.length || sb.some((b, i) => b.tensor.shape.join() !== db[i].tensor.shape.join())) {
    throw new RangeError(`${source}: the saved model's buffers (running statistics) do not match this model's`);
  }
  src.forEach((p, i) => dst[i].weight.copy_(p.weight));
  sb.forEach((b, i) => db[i].tensor.copy_(b.tensor));
}

/**
 * The checkpoint to resume from: `path` itself when it is a file, else the latest checkpoint in the
 * directory `path` (checkpoint.bigdl, or the highest checkpoint.<iteration>.bigdl). With
 * missingOk, no checkpoint there gives undefined (start afresh) instead of an error.
 */
export async function findCheckpoint(path: string, missingOk = false): Promise<string | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (info?.isFile()) return path;
  if (info?.isDirectory()) {
    const names = await readdir(path);
    if (names.includes('checkpoint.bigdl')) return join(path, 'checkpoint.bigdl');
    const numbered = names.map((n) => /^checkpoint\.(\d+)\.bigdl$/.exec(n)).filter((m) => m !== null).sort((a, b) => Number(b![1]) - Number(a![1]));
    if (numbered.length) return join(path, numbered[0]![0]);
  }
  if (missingOk) return undefined;
  throw new RangeError(`resume: no checkpoint at ${path} (expected a checkpoint file, or a directory holding checkpoint.bigdl or checkpoint.<iteration>.bigdl)`);
}
