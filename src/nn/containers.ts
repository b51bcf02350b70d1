import { Tensor } from '../tensor/tensor.js';
import { RandomGenerator } from '../tensor/random.js';
import { shapeStr } from '../tensor/shape.js';
import { badInput, ensureShape, Module, type Activity, type Parameter } from './module.js';
import { addActivity, copyActivity, describeActivity, requireTable, reuseTable } from './tables.js';

/**
 * Containers (Torch/BigDL): Concat, ConcatTable, ParallelTable and MapTable. Children live in
 * `this.modules`, so parameters, training()/evaluate(), clone(), toString() and
 * zeroGradParameters() reach them through Module.
 */
abstract class Container<In extends Activity, Out extends Activity> extends Module<In, Out> {
  add(module: Module<any, any>): this {
    if (!(module instanceof Module)) throw new TypeError(`${this.getName()}.add(): expected a module`);
    this.modules.push(module);
    return this;
  }

  get length(): number {
    return this.modules.length;
  }

  get(i: number): Module<any, any> {
    const m = this.modules[i < 0 ? this.modules.length + i : i];
    if (!m) throw new RangeError(`${this.getName()}.get(${i}): there are ${this.modules.length} modules`);
    return m;
  }

  protected requireChildren(): void {
    if (this.modules.length === 0) throw new Error(`${this.getName()}: empty container: add modules before forward`);
  }
}

/**
 * Runs every child on the same input and concatenates their (tensor) outputs along `dim`
 * (0-based, negative from the end of the outputs' dims). Backward hands each child its slice of
 * gradOutput and sums the children's gradInputs.
 */
export class Concat<In extends Activity = Tensor> extends Container<In, Tensor> {
  /** resolved dim and each child's offset along it, from the last forward */
  private d = 0;
  private offsets: number[] = [];

  constructor(readonly dim: number) {
    super();
    if (!Number.isInteger(dim)) throw new RangeError(`Concat: dim must be an integer, got ${dim}`);
  }

  updateOutput(input: In): Tensor {
    this.requireChildren();
    for (const m of this.modules) m.forward(input);
    const first = this.modules[0].output as Activity;
    if (!(first instanceof Tensor)) throw new RangeError(`${this.getName()}: child 0 returned a table; Concat joins tensors (use ConcatTable + JoinTable)`);
    const nd = first.ndim;
    const d = this.dim < 0 ? this.dim + nd : this.dim;
    if (d < 0 || d >= nd) throw new RangeError(`${this.getName()}: dim ${this.dim} is out of range for child outputs of shape ${shapeStr(first.shape)}`);
    let total = 0;
    this.offsets.length = this.modules.length;
    for (let i = 0; i < this.modules.length; i++) {
      const y = this.modules[i].output as Activity;
      if (!(y instanceof Tensor) || y.ndim !== nd || y.shape.some((s, k) => k !== d && s !== first.shape[k])) {
        throw new RangeError(`${this.getName()}: child outputs must agree in every dim but ${d}: child 0 gave ${shapeStr(first.shape)}, child ${i} gave ${describeActivity(y)}`);
      }
      this.offsets[i] = total;
      total += y.shape[d];
    }
    const shape = first.shape.slice();
    shape[d] = total;
    this.d = d;
    this.output = ensureShape(this.output, shape);
    for (let i = 0; i < this.modules.length; i++) {
      const y = this.modules[i].output as Tensor;
      this.output.narrow(d, this.offsets[i], y.shape[d]).copy_(y);
    }
    return this.output;
  }

  private slice(i: number, gradOutput: Tensor): Tensor {
    return gradOutput.narrow(this.d, this.offsets[i], (this.modules[i].output as Tensor).shape[this.d]);
  }

  private checkGradOutput(gradOutput: Tensor): void {
    if (!(gradOutput instanceof Tensor) || !gradOutput.equalShape(this.output)) {
      throw new RangeError(`${this.getName()}: gradOutput ${describeActivity(gradOutput)} does not match output ${shapeStr(this.output.shape)}`);
    }
  }

  private gradPass(input: In, gradOutput: Tensor, scale: number, mode: 'grad' | 'both'): In {
    this.checkGradOutput(gradOutput);
    for (let i = 0; i < this.modules.length; i++) {
      const m = this.modules[i];
      const g = this.slice(i, gradOutput);
      const gi = mode === 'both' ? m.backward(input, g, scale) : m.updateGradInput(input, g);
      if (i === 0) this.gradInput = copyActivity(this.gradInput, gi) as In;
      else addActivity(this, this.gradInput, gi);
    }
    return this.gradInput;
  }

  updateGradInput(input: In, gradOutput: Tensor): In {
    return this.gradPass(input, gradOutput, 0, 'grad');
  }

  override accGradParameters(input: In, gradOutput: Tensor, scale = 1): void {
    this.checkGradOutput(gradOutput);
    for (let i = 0; i < this.modules.length; i++) this.modules[i].accGradParameters(input, this.slice(i, gradOutput), scale);
  }

  override backward(input: In, gradOutput: Tensor, scale = 1): In {
    return this.gradPass(input, gradOutput, scale, 'both');
  }

  protected override extraRepr(): string {
    return `(${this.dim})`;
  }
}

/** Runs every child on the same input; the output is the table of their outputs, gradInput the sum. */
export class ConcatTable<In extends Activity = Tensor> extends Container<In, Activity[]> {
  constructor() {
    super();
    this.output = [];
  }

  updateOutput(input: In): Activity[] {
    this.requireChildren();
    const out = this.output;
    out.length = this.modules.length;
    for (let i = 0; i < this.modules.length; i++) out[i] = this.modules[i].forward(input);
    return out;
  }

  private checkGradOutput(gradOutput: Activity[]): void {
    if (!Array.isArray(gradOutput) || gradOutput.length !== this.modules.length) {
      throw new RangeError(`${this.getName()}: gradOutput must be a table of ${this.modules.length} (one per child), got ${Array.isArray(gradOutput) ? `a table of ${gradOutput.length}` : 'a tensor'}`);
    }
  }

  private gradPass(input: In, gradOutput: Activity[], scale: number, mode: 'grad' | 'both'): In {
    this.checkGradOutput(gradOutput);
    for (let i = 0; i < this.modules.length; i++) {
      const m = this.modules[i];
      const gi = mode === 'both' ? m.backward(input, gradOutput[i], scale) : m.updateGradInput(input, gradOutput[i]);
      if (i === 0) this.gradInput = copyActivity(this.gradInput, gi) as In;
      else addActivity(this, this.gradInput, gi);
    }
    return this.gradInput;
  }

  updateGradInput(input: In, gradOutput: Activity[]): In {
    return this.gradPass(input, gradOutput, 0, 'grad');
  }

  override accGradParameters(input: In, gradOutput: Activity[], scale = 1): void {
    this.checkGradOutput(gradOutput);
    for (let i = 0; i < this.modules.length; i++) this.modules[i].accGradParameters(input, gradOutput[i], scale);
  }

  override backward(input: In, gradOutput: Activity[], scale = 1): In {
    return this.gradPass(input, gradOutput, scale, 'both');
  }
}

/** Child i runs on input[i]; output and gradInput are the tables of the children's. */
export class ParallelTable extends Container<Activity[], Activity[]> {
  constructor() {
    super();
    this.output = [];
    this.gradInput = [];
  }

  private checkInput(input: Activity[]): void {
    this.requireChildren();
    const expected = `a table of ${this.modules.length} (one per child)`;
    requireTable(this, input, expected);
    if (input.length !== this.modules.length) badInput(this, expected, input);
  }

  private checkGradOutput(gradOutput: Activity[]): void {
    if (!Array.isArray(gradOutput) || gradOutput.length !== this.modules.length) {
      throw new RangeError(`${this.getName()}: gradOutput must be a table of ${this.modules.length} (one per child), got ${Array.isArray(gradOutput) ? `a table of ${gradOutput.length}` : 'a tensor'}`);
    }
  }

  updateOutput(input: Activity[]): Activity[] {
    this.checkInput(input);
    const out = this.output;
    out.length = input.length;
    for (let i = 0; i < input.length; i++) out[i] = this.modules[i].forward(input[i]);
    return out;
  }

  private gradPass(input: Activity[], gradOutput: Activity[], scale: number, mode: 'grad' | 'both'): Activity[] {
    this.checkInput(input);
    this.checkGradOutput(gradOutput);
    const gi = reuseTable(this.gradInput, input.length);
    for (let i = 0; i < input.length; i++) {
      const m = this.modules[i];
      gi[i] = mode === 'both' ? m.backward(input[i], gradOutput[i], scale) : m.updateGradInput(input[i], gradOutput[i]);
    }
    this.gradInput = gi;
    return gi;
  }

  updateGradInput(input: Activity[], gradOutput: Activity[]): Activity[] {
    return this.gradPass(input, gradOutput, 0, 'grad');
  }

  override accGradParameters(input: Activity[], gradOutput: Activity[], scale = 1): void {
    this.checkInput(input);
    this.checkGradOutput(gradOutput);
    for (let i = 0; i < input.length; i++) this.modules[i].accGradParameters(input[i], gradOutput[i], scale);
  }

  override backward(input: Activity[], gradOutput: Activity[], scale = 1): Activity[] {
    return this.gradPass(input, gradOutput, scale, 'both');
  }
}

/** Module's parameter objects (Module keeps them private; MapTable needs them to share weights). */
function parameterRefs(m: Module<any, any>): Parameter[] {
  const refs = (m as unknown as { allParameterRefs?: () => Parameter[] }).allParameterRefs;
  if (typeof refs !== 'function') throw new Error('MapTable: Module.allParameterRefs() is missing; MapTable needs it to share parameters');
  return refs.call(m);
}

/**
 * Module.clone() deep-copies random generators, so a cloned Dropout would replay the original's
 * mask sequence. A replica must draw from the same generator as its module: walk the two
 * (identically shaped) object graphs and point the copy's generator fields back at the original's.
 */
function shareGenerators(orig: unknown, copy: unknown, seen: Set<unknown>): void {
  if (orig === null || typeof orig !== 'object' || copy === null || typeof copy !== 'object') return;
  if (seen.has(orig) || orig instanceof Tensor || ArrayBuffer.isView(orig)) return;
  seen.add(orig);
  const o = orig as Record<string, unknown>, c = copy as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    const v = o[key];
    if (v instanceof RandomGenerator) c[key] = v;
    else if (v instanceof Module || Array.isArray(v)) shareGenerators(v, c[key], seen);
  }
}

/**
 * Applies one module to every element of a table. As in BigDL, element i > 0 runs on a replica
 * (a clone, so each keeps its own output/gradInput buffers) whose parameters are the module's
 * own tensors: the parameters are counted once (only the module is a child) and every replica's
 * gradients accumulate into the module's gradient buffers. The replicas re-attach to the
 * module's tensors on every call, so getParameters() compaction and clone() carry through.
 */
export class MapTable extends Container<Activity[], Activity[]> {
  /** replicas[0] is the module itself */
  private replicas: Module<any, any>[] = [];
  /** parameter objects of each replica, aligned with those of the module */
  private replicaParams: Parameter[][] = [];

  constructor(module?: Module<any, any>) {
    super();
    this.output = [];
    this.gradInput = [];
    if (module) this.add(module);
  }

  /** Sets the module (once). */
  override add(module: Module<any, any>): this {
    if (this.modules.length > 0) throw new Error(`${this.getName()}: already holds a module; MapTable maps exactly one`);
    super.add(module);
    this.replicas = [module];
    this.replicaParams = [parameterRefs(module)];
    return this;
  }

  get module(): Module<any, any> {
    this.requireChildren();
    return this.modules[0];
  }

  /** Creates replicas up to n and points every replica's parameters at the module's tensors. */
  private share(n: number): void {
    this.requireChildren();
    const module = this.modules[0];
    if (this.replicas[0] !== module) {
      this.replicas = [module];
      this.replicaParams = [parameterRefs(module)];
    }
    while (this.replicas.length < n) {
      const r = module.clone();
      shareGenerators(module, r, new Set());
      if (module.isTraining()) r.training();
      else r.evaluate();
      this.replicas.push(r);
      this.replicaParams.push(parameterRefs(r));
    }
    const src = this.replicaParams[0];
    for (let k = 1; k < this.replicas.length; k++) {
      const dst = this.replicaParams[k];
      for (let j = 0; j < src.length; j++) {
        dst[j].weight = src[j].weight;
        dst[j].gradient = src[j].gradient;
      }
    }
  }

  private checkInput(input: Activity[]): void {
    requireTable(this, input, 'a table');
  }

  private checkGradOutput(input: Activity[], gradOutput: Activity[]): void {
    if (!Array.isArray(gradOutput) || gradOutput.length !== input.length) {
      throw new RangeError(`${this.getName()}: gradOutput must be a table of ${input.length} (one per input), got ${Array.isArray(gradOutput) ? `a table of ${gradOutput.length}` : 'a tensor'}`);
    }
  }

  updateOutput(input: Activity[]): Activity[] {
    this.checkInput(input);
    this.share(input.length);
    const out = this.output;
    out.length = input.length;
    for (let i = 0; i < input.length; i++) out[i] = this.replicas[i].forward(input[i]);
    return out;
  }

  private gradPass(input: Activity[], gradOutput: Activity[], scale: number, mode: 'grad' | 'both'): Activity[] {
    this.checkInput(input);
    this.checkGradOutput(input, gradOutput);
    this.share(input.length);
    const gi = reuseTable(this.gradInput, input.length);
    for (let i = 0; i < input.length; i++) {
      const r = this.replicas[i];
      gi[i] = mode === 'both' ? r.backward(input[i], gradOutput[i], scale) : r.updateGradInput(input[i], gradOutput[i]);
    }
    this.gradInput = gi;
    return gi;
  }

  updateGradInput(input: Activity[], gradOutput: Activity[]): Activity[] {
    return this.gradPass(input, gradOutput, 0, 'grad');
  }

  override accGradParameters(input: Activity[], gradOutput: Activity[], scale = 1): void {
    this.checkInput(input);
    this.checkGradOutput(input, gradOutput);
    this.share(input.length);
    for (let i = 0; i < input.length; i++) this.replicas[i].accGradParameters(input[i], gradOutput[i], scale);
  }

  override backward(input: Activity[], gradOutput: Activity[], scale = 1): Activity[] {
    return this.gradPass(input, gradOutput, scale, 'both');
  }

  protected override setTrainingMode(on: boolean): void {
    super.setTrainingMode(on);
    for (const r of this.replicas) {
      if (on) r.training();
      else r.evaluate();
    }
  }
}
