/**
 * BigDL's AllReduceParameter, built from the block store alone (the engine's shuffle + broadcast):
 * the flat gradient is cut into N slices; every forward-backward task writes its slice i to a
 * block; the owner of slice i (a parameter-sync task) reads slice i of every task, sums them
 * weighted by the samples each task processed, applies the optim method to weight slice i with
 * that slice's optimizer state, and publishes the new weight slice; the next iteration's tasks read
 * all weight slices.
 *
 * Every block is versioned by iteration and nothing is overwritten in place, so each task is
 * idempotent: a task rerun after a failure reads the same inputs and writes the same outputs.
 */
import { Tensor } from '../tensor/tensor.js';
import type { OptimMethod, SavedState } from '../optim/optim-method.js';
import { serializeObject, deserializeObject } from '../serialization/index.js';
import { addHalf, encodeHalf } from './fp16.js';
import type { BlockStore } from './cluster/types.js';

export interface AllReduceOptions {
  /** gradients travel as float16 (half the bytes; BigDL's compression) */
  fp16?: boolean;
}

/** How a slice's update is made: clipping and what the optim method's schedule may look at. */
export interface ApplyOptions {
  /** multiply the gradient first (L2-norm clipping: maxNorm / norm of the whole gradient) */
  scale?: number;
  /** then clamp every element into [min, max] (constant clipping) */
  clamp?: [number, number];
  loss?: number;
  score?: number;
  epoch?: number;
}

/** One task's contribution to an iteration: which task, and how many samples its gradient averages. */
export interface Contribution {
  task: number;
  samples: number;
}

const bytesOf = (a: Float32Array | Uint16Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

// new Uint8Array(b) copies into a fresh buffer: Buffer#slice (what Redis hands back) is a view
// into a shared pool, so b.slice().buffer would be the whole pool
/** The floats of a block (a view when aligned, else a copy). */
export function f32(b: Uint8Array): Float32Array {
  if (b.byteOffset % 4 === 0) return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  return new Float32Array(new Uint8Array(b).buffer);
}

function u16(b: Uint8Array): Uint16Array {
  if (b.byteOffset % 2 === 0) return new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2);
  return new Uint16Array(new Uint8Array(b).buffer);
}

/**
 * A block a job needs is gone: blocks are only deleted at the job's end, so the store lost it (a
 * Redis restarted without persistence, a local[N] driver's temp directory removed) or the job was
 * stopped. Retrying cannot help; the checkpoint can.
 */
export class MissingBlockError extends Error {
  constructor(what: string, key: string) {
    super(`${what} is missing from the block store (key ${key}): the store lost it (e.g. Redis restarted without persistence) or the job was stopped; ` +
      'rerun from the last checkpoint (setCheckpoint + resume)');
  }
}

export class AllReduceParameter {
  readonly fp16: boolean;

  constructor(readonly job: string, readonly size: number, readonly slices: number, opts: AllReduceOptions = {}) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`AllReduceParameter: size must be a positive integer, got ${size}`);
    if (!Number.isInteger(slices) || slices < 1) throw new RangeError(`AllReduceParameter: slices must be a positive integer, got ${slices}`);
    this.fp16 = opts.fp16 ?? false;
  }

  /** [start, end) of slice i: as even as possible. */
  sliceRange(i: number): [number, number] {
    if (!Number.isInteger(i) || i < 0 || i >= this.slices) throw new RangeError(`AllReduceParameter: slice ${i} is not in 0..${this.slices - 1}`);
    return [Math.floor((i * this.size) / this.slices), Math.floor(((i + 1) * this.size) / this.slices)];
  }

  weightKey(version: number, slice: number): string {
    return `${this.job}/w/${version}/${slice}`;
  }

  gradKey(iteration: number, slice: number, task: number): string {
    return `${this.job}/g/${iteration}/${slice}/${task}`;
  }

  stateKey(version: number, slice: number): string {
    return `${this.job}/s/${version}/${slice}`;
  }

  /**
   * Driver: publishes version `version` (0 for a fresh start) of the weights and each slice's
   * optimizer state: fresh, or the given per-slice states (a resumed run).
   */
  async init(blocks: BlockStore, weights: Float32Array, method: OptimMethod, states?: SavedState[], version = 0): Promise<void> {
    if (weights.length !== this.size) throw new RangeError(`AllReduceParameter.init: ${weights.length} weights for size ${this.size}`);
    if (states && states.length !== this.slices) throw new RangeError(`AllReduceParameter.init: ${states.length} optimizer states for ${this.slices} slices`);
    for (let i = 0; i < this.slices; i++) {
      const [s, e] = this.sliceRange(i);
      await blocks.put(this.weightKey(version, i), bytesOf(weights.slice(s, e)));
      await blocks.put(this.stateKey(version, i), serializeObject(states ? states[i] : method.clone().saveState()));
    }
  }

  /** Task: reads every weight slice of `version` into `into` (the model's flat weights). */
  async getWeights(blocks: BlockStore, version: number, into: Float32Array): Promise<void> {
    this.assembleWeights(await blocks.getMany(this.weightKeys(version)), version, into);
  }

  /** The keys of every weight slice of `version`, in slice order. */
  weightKeys(version: number): string[] {
    return Array.from({ length: this.slices }, (_, i) => this.weightKey(version, i));
  }

  /** Copies the weight slices of `version` (their blocks, in slice order) into `into`, checking each. */
  assembleWeights(parts: readonly (Uint8Array | undefined)[], version: number, into: Float32Array): void {
    parts.forEach((b, i) => {
      if (!b) throw new MissingBlockError(`AllReduceParameter: weight slice ${i} of version ${version}`, this.weightKey(version, i));
      const [s, e] = this.sliceRange(i);
      const w = f32(b);
      if (w.length !== e - s) throw new Error(`AllReduceParameter: weight slice ${i} has ${w.length} values, expected ${e - s}`);
      into.set(w, s);
    });
  }

  /** Task: writes this task's gradient, cut into slices (float16 when compressing). */
  async putGradients(blocks: BlockStore, iteration: number, task: number, gradient: Float32Array): Promise<void> {
    if (gradient.length !== this.size) throw new RangeError(`AllReduceParameter.putGradients: ${gradient.length} values for size ${this.size}`);
    for (let i = 0; i < this.slices; i++) {
      const [s, e] = this.sliceRange(i);
      const part = this.fp16 ? bytesOf(encodeHalf(gradient, s, e)) : bytesOf(gradient.slice(s, e));
      await blocks.put(this.gradKey(iteration, i, task), part);
    }
  }

  /**
   * The sample-weighted mean of slice i of the contributions' gradients for `iteration`: the mean
   * gradient over every sample of the iteration, whatever the split.
   */
  async sumSlice(blocks: BlockStore, iteration: number, slice: number, contributions: Contribution[]): Promise<Float32Array> {
    const [s, e] = this.sliceRange(slice);
    const n = e - s;
    const total = contributions.reduce((a, c) => a + c.samples, 0);
    if (!(total > 0)) throw new RangeError('AllReduceParameter: the contributions processed no samples');
    const grads = await blocks.getMany(contributions.map((c) => this.gradKey(iteration, slice, c.task)));
    const sum = new Float32Array(n);
    grads.forEach((g, k) => {
      if (!g) throw new MissingBlockError(`AllReduceParameter: gradient slice ${slice} of task ${contributions[k].task} for iteration ${iteration}`, this.gradKey(iteration, slice, contributions[k].task));
      const w = contributions[k].samples / total;
      if (this.fp16) addHalf(sum, u16(g), w);
      else {
        const x = f32(g);
        if (x.length !== n) throw new Error(`AllReduceParameter: gradient slice ${slice} of task ${contributions[k].task} has ${x.length} values, expected ${n}`);
        for (let j = 0; j < n; j++) sum[j] += w * x[j];
      }
    });
    return sum;
  }

  /**
   * Applies `method` (a template: its state comes from the block store) to weight slice i of
   * version `iteration` with `gradient` (already summed; clipped here when asked), and publishes
   * version iteration + 1 of the slice and of its optimizer state. With a null gradient the weights
   * and state carry over unchanged (an iteration discarded: too few contributions, non-finite loss).
   * Returns the learning rate the update used.
   */
  async applySlice(blocks: BlockStore, iteration: number, slice: number, gradient: Float32Array | null, method: OptimMethod,
    opts: ApplyOptions = {}): Promise<number> {
    const [wb, sb] = await blocks.getMany([this.weightKey(iteration, slice), this.stateKey(iteration, slice)]);
    if (!wb || !sb) {
      throw new MissingBlockError(`AllReduceParameter: the ${wb ? 'optimizer state' : 'weights'} of slice ${slice}, version ${iteration},`, wb ? this.stateKey(iteration, slice) : this.weightKey(iteration, slice));
    }
    const m = method.clone();
    m.loadState(deserializeObject(sb) as SavedState);
    if (!gradient) {
      await blocks.put(this.stateKey(iteration + 1, slice), sb);
      await blocks.put(this.weightKey(iteration + 1, slice), wb);
      return m.getLearningRate();
    }
    const weights = new Float32Array(f32(wb));
    const g = opts.scale !== undefined && opts.scale !== 1 ? gradient.map((x) => x * opts.scale!) : gradient;
    if (opts.clamp) {
      const [lo, hi] = opts.clamp;
      for (let j = 0; j < g.length; j++) g[j] = g[j] < lo ? lo : g[j] > hi ? hi : g[j];
    }
    if (opts.loss !== undefined) m.state.loss = opts.loss;
    if (opts.score !== undefined) m.state.score = opts.score;
    if (opts.epoch !== undefined) m.state.epoch = opts.epoch;
    m.step(new Tensor(weights, [weights.length]), new Tensor(g, [g.length]), opts.loss);
    await blocks.put(this.stateKey(iteration + 1, slice), serializeObject(m.saveState()));
    await blocks.put(this.weightKey(iteration + 1, slice), bytesOf(weights));
    return m.getLearningRate();
  }

  /** Sync task for slice i: sumSlice then applySlice (skip: carry the slice over unchanged). */
  async aggregate(blocks: BlockStore, iteration: number, slice: number, contributions: Contribution[], method: OptimMethod,
    opts: ApplyOptions & { skip?: boolean } = {}): Promise<number> {
    const skip = opts.skip || contributions.length === 0;
    const sum = skip ? null : await this.sumSlice(blocks, iteration, slice, contributions);
    return this.applySlice(blocks, iteration, slice, sum, method, opts);
  }

  /** Driver: the optimizer states of every slice of `version`, in slice order. */
  async getStates(blocks: BlockStore, version: number): Promise<SavedState[]> {
    const keys = Array.from({ length: this.slices }, (_, i) => this.stateKey(version, i));
    return (await blocks.getMany(keys)).map((b, i) => {
      if (!b) throw new MissingBlockError(`AllReduceParameter: optimizer state of slice ${i}, version ${version}`, keys[i]);
      return deserializeObject(b) as SavedState;
    });
  }

  /** Per-task facts of an iteration (loss, samples, finite gradient): group scheduling's agreement. */
  metaKey(iteration: number, task: number): string {
    return `${this.job}/m/${iteration}/${task}`;
  }

  /** Sum of squares of slice i's mean gradient (L2-norm clipping under group scheduling). */
  squaresKey(iteration: number, slice: number): string {
    return `${this.job}/q/${iteration}/${slice}`;
  }

  /** Mean gradient of slice i, kept between the two phases of L2-norm clipping. */
  sumKey(iteration: number, slice: number): string {
    return `${this.job}/sum/${iteration}/${slice}`;
  }

  /** Driver: drops the blocks of versions [from, keepFrom) (weights, states, gradients and per-iteration facts). */
  async collect(blocks: BlockStore, keepFrom: number, tasks: number, from = keepFrom - 2): Promise<void> {
    const keys: string[] = [];
    for (let v = Math.max(0, from); v < keepFrom; v++) {
      for (let i = 0; i < this.slices; i++) {
        keys.push(this.weightKey(v, i), this.stateKey(v, i), this.squaresKey(v, i), this.sumKey(v, i));
        for (let t = 0; t < tasks; t++) keys.push(this.gradKey(v, i, t));
      }
      for (let t = 0; t < tasks; t++) keys.push(this.metaKey(v, t));
    }
    await blocks.delete(keys);
  }
}
