import { Tensor } from '../tensor/tensor.js';
import { RNG } from '../tensor/random.js';
import { shapeStr, type Shape } from '../tensor/shape.js';
import { ModuleNode } from './node.js';
// type-only: the predictor and the distributed engine import nn, so they are loaded lazily where used
import type { PredictData, PredictOptions } from '../optim/predictor.js';
import type { ValidationMethod, ValidationResult } from '../optim/validation.js';
import type { PartitionedDataset } from '../engine/dataset.js';
import type { DistriPredictOptions, PredictRecord } from '../engine/distri-predict.js';
import type { Sample } from '../data/sample.js';

/** A PartitionedDataset carries this brand (engine/dataset.ts), so recognising one needs no import of the engine. */
const PARTITIONED_DATASET = Symbol.for('bigdl.PartitionedDataset');
const isPartitioned = (x: unknown): x is PartitionedDataset<any> =>
  typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[PARTITIONED_DATASET] === true;

/** A module's input or output: a tensor, or a table (array) of activities, as in Torch. */
export type Activity = Tensor | Activity[];

/** One learnable parameter: its value, its gradient, and a stable name within its module. */
export interface Parameter {
  name: string;
  weight: Tensor;
  gradient: Tensor;
}

/** Parameters compacted into one flat weight buffer and one flat gradient buffer. */
export interface FlatParameters {
  weights: Tensor;
  gradients: Tensor;
}

const EMPTY = Tensor.empty([0]);

/**
 * The Torch/BigDL module contract.
 *
 * forward(input) = updateOutput(input); backward(input, gradOutput) = updateGradInput +
 * accGradParameters, which *accumulates* into the parameter gradients (zeroGradParameters
 * clears them). `output` and `gradInput` are buffers owned by the module and reused across
 * calls: once shapes settle, a training step allocates nothing.
 */
export abstract class Module<In extends Activity = Tensor, Out extends Activity = Tensor> {
  output: Out = EMPTY as unknown as Out;
  gradInput: In = EMPTY as unknown as In;
  protected train = true;
  private moduleName: string | undefined;
  /** this module's own parameters (not its children's), in registration order */
  private readonly ownParams: Parameter[] = [];
  /** names of this module's tensor fields that are state but not learnable (running statistics) */
  private readonly ownBufferFields: string[] = [];
  /** sub-modules, in order; containers add to it */
  protected readonly modules: Module<any, any>[] = [];

  abstract updateOutput(input: In): Out;
  abstract updateGradInput(input: In, gradOutput: Out): In;
  /** Adds this batch's parameter gradients into the gradient buffers (scaled by `scale`). */
  accGradParameters(_input: In, _gradOutput: Out, _scale = 1): void {}

  forward(input: In): Out {
    return this.updateOutput(input);
  }

  backward(input: In, gradOutput: Out, scale = 1): In {
    const gi = this.updateGradInput(input, gradOutput);
    this.accGradParameters(input, gradOutput, scale);
    return gi;
  }

  // ---- parameters ---------------------------------------------------------------------------

  /**
   * Registers a parameter and allocates its gradient. Keep the returned object, not its tensors:
   * getParameters() swaps `weight` and `gradient` for views into the flat buffers.
   */
  protected registerParameter(name: string, weight: Tensor): Parameter {
    if (this.ownParams.some((p) => p.name === name)) throw new Error(`${this.getName()}: parameter '${name}' registered twice`);
    const p = { name, weight, gradient: Tensor.zeros(weight.shape) };
    this.ownParams.push(p);
    return p;
  }

  /** All parameters of this module and its children, with dotted names (`0.weight`, `encoder.1.bias`). */
  namedParameters(prefix = ''): Parameter[] {
    const own = this.ownParams.map((p) => ({ ...p, name: prefix + p.name }));
    const children = this.modules.flatMap((m, i) => m.namedParameters(`${prefix}${m.moduleName ?? i}.`));
    return [...own, ...children];
  }

  /**
   * Declares the tensor field `field` as persistent non-learnable state (PyTorch's buffers, e.g.
   * batch norm's running statistics): it is saved with the model, and replicas that train in
   * worker threads copy theirs back into the model at synchronisation points. The field is read
   * at use time, so it may be reassigned.
   */
  protected registerBuffer(field: string): void {
    if (!((this as Record<string, unknown>)[field] instanceof Tensor)) throw new Error(`${this.getName()}: buffer '${field}' must be a Tensor field`);
    if (!this.ownBufferFields.includes(field)) this.ownBufferFields.push(field);
  }

  /** Buffers of this module and its children with dotted names, in a stable order. */
  namedBuffers(prefix = ''): { name: string; tensor: Tensor }[] {
    const own = this.ownBufferFields.map((f) => ({ name: prefix + f, tensor: (this as Record<string, unknown>)[f] as Tensor }));
    const children = this.modules.flatMap((m, i) => m.namedBuffers(`${prefix}${m.moduleName ?? i}.`));
    return [...own, ...children];
  }

  /** Weights and gradients, in the same order (BigDL's `parameters()`). */
  parameters(): { weights: Tensor[]; gradients: Tensor[] } {
    const ps = this.allParameterRefs();
    return { weights: ps.map((p) => p.weight), gradients: ps.map((p) => p.gradient) };
  }

  private allParameterRefs(): Parameter[] {
    return [...this.ownParams, ...this.modules.flatMap((m) => m.allParameterRefs())];
  }

  /** Number of learnable scalars. */
  parameterCount(): number {
    return this.allParameterRefs().reduce((n, p) => n + p.weight.numel, 0);
  }

  /**
   * Moves every weight into one contiguous flat buffer and every gradient into another; modules
   * keep views into them, so updating the flat buffer updates the model. The distributed engine
   * slices these buffers into shards. Calling it again returns the same buffers.
   */
  getParameters(opts: { shared?: boolean } = {}): FlatParameters {
    const ps = this.allParameterRefs();
    const total = ps.reduce((n, p) => n + p.weight.numel, 0);
    if (ps.length > 0 && isCompacted(ps) && (!opts.shared || ps[0].weight.data.buffer instanceof SharedArrayBuffer)) {
      const w = ps[0].weight, g = ps[0].gradient;
      return { weights: new Tensor(w.data, [total], [1], 0), gradients: new Tensor(g.data, [total], [1], 0) };
    }
    const weights = Tensor.zeros([total], { shared: opts.shared });
    const gradients = Tensor.zeros([total], { shared: opts.shared });
    let off = 0;
    for (const p of ps) {
      const n = p.weight.numel;
      const w = new Tensor(weights.data, p.weight.shape, undefined, off);
      const g = new Tensor(gradients.data, p.weight.shape, undefined, off);
      w.copy_(p.weight);
      g.copy_(p.gradient);
      p.weight = w;
      p.gradient = g;
      off += n;
    }
    return { weights, gradients };
  }

  /**
   * Points every parameter at views into the given flat buffers (the layout of getParameters():
   * registration order, contiguous), without copying. Replicas in worker threads use it to
   * train on weights that live in one SharedArrayBuffer. The buffers' current contents are kept.
   */
  bindParameters(weights: Tensor, gradients: Tensor): void {
    const ps = this.allParameterRefs();
    const total = ps.reduce((n, p) => n + p.weight.numel, 0);
    for (const [what, t] of [['weights', weights], ['gradients', gradients]] as const) {
      if (t.ndim !== 1 || t.numel !== total || !t.isContiguous() || t.dtype !== 'float32') {
        throw new RangeError(`${this.getName()}.bindParameters: ${what} must be a contiguous float32 [${total}] tensor, got ${t.dtype} ${shapeStr(t.shape)}`);
      }
    }
    let off = 0;
    for (const p of ps) {
      p.weight = new Tensor(weights.data, p.weight.shape, undefined, weights.offset + off);
      p.gradient = new Tensor(gradients.data, p.weight.shape, undefined, gradients.offset + off);
      off += p.weight.numel;
    }
  }

  /** Zeroes this module's gradients, then each child's (through its own zeroGradParameters, so layers can hook it). */
  zeroGradParameters(): void {
    for (const p of this.ownParams) p.gradient.zero_();
    for (const m of this.modules) m.zeroGradParameters();
  }

  /**
   * Graph API: a node applying this module to the outputs of `nodes` (a table when there are
   * several). `const h = new Linear(4, 8).inputs(x)`.
   */
  inputs(...nodes: ModuleNode[]): ModuleNode {
    for (const n of nodes) {
      if (!(n instanceof ModuleNode)) throw new TypeError(`${this.getName()}.inputs(): arguments must be graph nodes (from Input() or module.inputs())`);
    }
    return new ModuleNode(this, nodes);
  }

  // ---- mode, naming, copying -----------------------------------------------------------------

  training(): this {
    this.setTrainingMode(true);
    return this;
  }

  /**
   * With no arguments: switches to evaluation mode (BigDL's `evaluate()`), returning this. With
   * data and validation methods: runs them over the data in evaluation mode, batched, on every
   * core, and resolves to one merged result per method (BigDL's `evaluate(dataset, methods)`).
   * A PartitionedDataset of Samples is evaluated on its cluster: one task per partition, results
   * merged here.
   */
  evaluate(): this;
  evaluate(data: PredictData | PartitionedDataset<Sample>, methods: ValidationMethod[], opts?: PredictOptions): Promise<ValidationResult[]>;
  evaluate(data?: PredictData | PartitionedDataset<Sample>, methods?: ValidationMethod[], opts?: PredictOptions): this | Promise<ValidationResult[]> {
    if (data === undefined) {
      this.setTrainingMode(false);
      return this;
    }
    if (isPartitioned(data)) return import('../engine/distri-predict.js').then((d) => d.evaluateDataset(this, data, methods ?? [], opts));
    const local = data as PredictData;
    return import('../optim/predictor.js').then((p) => p.evaluate(this, local, methods ?? [], opts));
  }

  /**
   * The model's outputs for every record of `data` (Samples, MiniBatches or tensors), batched. Given
   * a PartitionedDataset of Samples or Tensors, resolves to the dataset of outputs, one per record
   * with the input's partitioning and order, computed on the cluster (lazily, with the weights of
   * this call; see engine/distri-predict.ts).
   */
  predict<O extends Activity, T extends PredictRecord>(this: Module<any, O>, data: PartitionedDataset<T>, opts?: DistriPredictOptions): Promise<PartitionedDataset<O>>;
  predict(data: PredictData, opts?: PredictOptions): Promise<Activity>;
  predict(data: PredictData | PartitionedDataset<any>, opts?: PredictOptions): Promise<Activity | PartitionedDataset<Activity>> {
    if (isPartitioned(data)) return import('../engine/distri-predict.js').then((d) => d.predictDataset(this, data, opts));
    const local = data as PredictData;
    return import('../optim/predictor.js').then((p) => p.predict(this, local, opts));
  }

  /** The 0-based predicted class of every record (int32 [n]; for a PartitionedDataset, a dataset of numbers in the same order). */
  predictClass<T extends PredictRecord>(data: PartitionedDataset<T>, opts?: DistriPredictOptions): Promise<PartitionedDataset<number>>;
  predictClass(data: PredictData, opts?: PredictOptions): Promise<Tensor>;
  predictClass(data: PredictData | PartitionedDataset<any>, opts?: PredictOptions): Promise<Tensor | PartitionedDataset<number>> {
    if (isPartitioned(data)) return import('../engine/distri-predict.js').then((d) => d.predictClassDataset(this, data, opts));
    const local = data as PredictData;
    return import('../optim/predictor.js').then((p) => p.predictClass(this, local, opts));
  }

  /** Sets training/evaluation mode here and in every child; containers with hidden replicas extend it. */
  protected setTrainingMode(on: boolean): void {
    this.train = on;
    for (const m of this.modules) m.setTrainingMode(on);
  }

  isTraining(): boolean {
    return this.train;
  }

  setName(name: string): this {
    this.moduleName = name;
    return this;
  }

  getName(): string {
    return this.moduleName ?? this.constructor.name;
  }

  /** Children, in order. */
  children(): readonly Module<any, any>[] {
    return this.modules;
  }

  /**
   * An independent replica: same architecture and weights, no shared memory. If this module's
   * parameters are compacted, the clone's are compacted too.
   */
  clone(): this {
    const copy = deepClone(this, new Map()) as this;
    const ps = this.allParameterRefs();
    if (ps.length > 0 && isCompacted(ps)) copy.getParameters();
    return copy;
  }

  /** One line per module with its parameter count, indented by depth. */
  toString(): string {
    return this.describe('');
  }

  protected describe(indent: string): string {
    const own = this.ownParams.map((p) => `${p.name}${shapeStr(p.weight.shape)}`).join(', ');
    const count = this.parameterCount();
    const head = `${indent}${this.getName()}${this.extraRepr()}${own ? ` {${own}}` : ''}${count ? ` (${count.toLocaleString('en-US')} params)` : ''}`;
    return [head, ...this.modules.map((m) => m.describe(indent + '  '))].join('\n');
  }

  /** Constructor arguments worth showing in toString(), e.g. `(784 -> 10)`. */
  protected extraRepr(): string {
    return '';
  }
}

function isCompacted(ps: Parameter[]): boolean {
  const data = ps[0].weight.data, grad = ps[0].gradient.data;
  let off = 0;
  for (const p of ps) {
    if (p.weight.data !== data || p.gradient.data !== grad || p.weight.offset !== off || p.gradient.offset !== off) return false;
    if (!p.weight.isContiguous() || !p.gradient.isContiguous()) return false;
    off += p.weight.numel;
  }
  return off === data.length && off === grad.length;
}

/** Copies an object graph; tensors get fresh storage, typed arrays are copied, cycles kept. */
function deepClone(v: unknown, seen: Map<unknown, unknown>): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (seen.has(v)) return seen.get(v);
  // the process-wide generator is shared, never copied: a clone draws from the same stream
  if (v === RNG) return v;
  if (v instanceof Tensor) {
    const c = v.clone();
    seen.set(v, c);
    return c;
  }
  if (ArrayBuffer.isView(v)) {
    const c = (v as unknown as Float32Array).slice();
    seen.set(v, c);
    return c;
  }
  if (Array.isArray(v)) {
    const c: unknown[] = [];
    seen.set(v, c);
    for (const x of v) c.push(deepClone(x, seen));
    return c;
  }
  if (v instanceof Map) {
    const c = new Map();
    seen.set(v, c);
    for (const [k, x] of v) c.set(k, deepClone(x, seen));
    return c;
  }
  const c = Object.create(Object.getPrototypeOf(v));
  seen.set(v, c);
  for (const key of Object.keys(v)) c[key] = deepClone((v as Record<string, unknown>)[key], seen);
  return c;
}

/** Returns `buf` if it already has `shape`, else a new zeroed tensor: the output-reuse idiom. */
export function ensureShape(buf: Tensor, shape: Shape): Tensor {
  if (buf.ndim === shape.length && buf.shape.every((s, i) => s === shape[i]) && buf.isContiguous()) return buf;
  return Tensor.zeros(shape);
}

/** Throws a shape error naming the module, what was expected and what arrived. */
export function badInput(module: Module<any, any>, expected: string, got: Tensor | Activity): never {
  const desc = got instanceof Tensor ? `${got.dtype} ${shapeStr(got.shape)}` : `a table of ${(got as Activity[]).length}`;
  throw new RangeError(`${module.getName()}: expected input ${expected}, got ${desc}`);
}
