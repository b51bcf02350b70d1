import { Tensor } from '../../tensor/tensor.js';
import { sameShape, shapeStr, type Shape } from '../../tensor/shape.js';
import { badInput, Module } from '../module.js';

/**
 * Recurrent cells and the buffers they run in.
 *
 * A cell computes one time step: from the step's input x_t ([batch, inputSize], or
 * [batch, C, H, W] for convolutional cells) and the previous state (RnnCell/GRU: [h];
 * LSTM: [h, c]) it computes the new state, whose first tensor h_t is the step's output.
 *
 * Used alone, a cell is a Module on tables: forward([x, ...state]) returns [h', ...state'] (a
 * missing state means zeros) and backward goes through that one step. Inside the containers
 * (Recurrent, BiRecurrent, RecurrentDecoder) the cell instead runs the *sequence protocol*
 * below, which lets it batch work across time: the input projection of every step is one GEMM
 * (or one convolution) before the loop, each step adds one GEMM for the hidden projection, and
 * the weight gradients are one GEMM each after the loop.
 *
 * All per-sequence buffers live in a CellWorkspace keyed on the input geometry (batch, time and
 * the per-step shape): once shapes settle, nothing is allocated.
 */

export type RunMode = 'sequence' | 'decoder' | 'step';

/** Buffers of one run geometry. Cells extend it with their own (gates, scratch, ...). */
export class CellWorkspace {
  readonly B: number;
  /** batch * time: the rows of the all-steps GEMMs */
  readonly N: number;
  /** states[k]: [B, T, ...state shape] (states[0] is the output sequence) */
  readonly states: Tensor[] = [];
  /** gradients of the loss with respect to states[k] (filled during backward) */
  readonly grads: Tensor[] = [];
  /** at[t][k] = states[k][:, t] */
  readonly at: Tensor[][] = [];
  readonly gradAt: Tensor[][] = [];
  /** the initial state used when none is given (never written) */
  readonly zeroInit: Tensor[] = [];
  /** gradient with respect to the initial state */
  readonly gradInit: Tensor[] = [];
  /** gradient with respect to the input: [B, T, ...in] for a sequence, the step input's shape otherwise */
  readonly gradX: Tensor;
  /** the initial state of the last forward (null: zeros); a copy, see useInit */
  init: readonly Tensor[] | null = null;
  private readonly initCopy: Tensor[] = [];
  /** whether the last forward ran from the last time step to the first */
  reverse = false;
  forwarded = false;
  backwarded = false;
  /** the gradInput table of a single step (step mode) */
  stepGradTable: Tensor[] | null = null;
  private readonly scratch = new Map<string, Tensor>();

  constructor(readonly mode: RunMode, readonly T: number, readonly xShape: readonly number[], readonly stateShape: readonly number[],
    readonly nStates: number) {
    this.B = xShape[0];
    this.N = this.B * T;
    const seq = [this.B, T, ...stateShape.slice(1)];
    for (let k = 0; k < nStates; k++) {
      this.states.push(Tensor.zeros(seq));
      this.grads.push(Tensor.zeros(seq));
      this.zeroInit.push(Tensor.zeros(stateShape));
      this.gradInit.push(Tensor.zeros(stateShape));
      this.initCopy.push(Tensor.zeros(stateShape));
    }
    for (let t = 0; t < T; t++) {
      this.at.push(this.states.map((s) => s.select(1, t)));
      this.gradAt.push(this.grads.map((s) => s.select(1, t)));
    }
    this.gradX = Tensor.zeros(mode === 'sequence' ? [this.B, T, ...xShape.slice(1)] : xShape);
  }

  /** A named scratch tensor of `shape`, allocated once per workspace (zeros when new). */
  buf(name: string, shape: Shape): Tensor {
    let b = this.scratch.get(name);
    if (!b || !sameShape(b.shape, shape)) {
      b = Tensor.zeros(shape);
      this.scratch.set(name, b);
    }
    return b;
  }

  /**
   * Takes the initial state of a run by value: the caller's tensors may be views into these
   * very buffers (`rec.setHiddenState(rec.getHiddenState())` to carry state across batches),
   * which the run overwrites before backward needs them.
   */
  useInit(init: readonly Tensor[] | null): void {
    if (init) init.forEach((s, k) => this.initCopy[k].copy_(s));
    this.init = init ? this.initCopy : null;
  }

  /** A [1, n] row of ones (column sums as one GEMM). */
  onesRow(n: number): Tensor {
    let b = this.scratch.get('ones');
    if (!b || b.shape[1] !== n) {
      b = Tensor.ones([1, n]);
      this.scratch.set('ones', b);
    }
    return b;
  }

  /** The first time step in processing order. */
  get firstStep(): number {
    return this.reverse ? this.T - 1 : 0;
  }

  /** Whether step t starts from the all-zero default state (its hidden projection can be skipped). */
  zeroStart(t: number): boolean {
    return this.init === null && t === this.firstStep;
  }

  /** The state before step t (the initial state for the first step). */
  prevStates(t: number): readonly Tensor[] {
    if (t === this.firstStep) return this.init ?? this.zeroInit;
    return this.at[this.reverse ? t + 1 : t - 1];
  }

  /** Where the gradient with respect to the state before step t goes. */
  prevGrads(t: number): readonly Tensor[] {
    if (t === this.firstStep) return this.gradInit;
    return this.gradAt[this.reverse ? t + 1 : t - 1];
  }

  /**
   * [B, T, ...] whose slot t holds state k *before* step t: the states shifted by one step,
   * with the initial state in the first slot. Two copies; used for the all-steps weight GEMMs.
   */
  prevSeq(k: number): Tensor {
    const dst = this.buf(`prev${k}`, this.states[k].shape);
    shiftInto(dst, this.states[k], (this.init ?? this.zeroInit)[k], this.reverse);
    return dst;
  }

  /** `x` if it is contiguous, else a contiguous copy in a reused buffer. */
  contiguous(x: Tensor, name = 'x'): Tensor {
    if (x.isContiguous()) return x;
    return this.buf(name, x.shape).copy_(x);
  }
}

/** dst[:, t] = src[:, t-1] (or t+1 when reverse), and `first` in the first slot. */
export function shiftInto(dst: Tensor, src: Tensor, first: Tensor, reverse: boolean): void {
  const T = dst.shape[1];
  if (reverse) {
    if (T > 1) dst.narrow(1, 0, T - 1).copy_(src.narrow(1, 1, T - 1));
    dst.select(1, T - 1).copy_(first);
  } else {
    if (T > 1) dst.narrow(1, 1, T - 1).copy_(src.narrow(1, 0, T - 1));
    dst.select(1, 0).copy_(first);
  }
}

// Workspaces hang off the cell through a WeakMap rather than a field: Module.clone() deep-copies
// fields, which would turn the per-step views into independent tensors. A clone starts afresh.
// Per mode, the last few geometries are kept (bucketed sequence lengths reuse their buffers);
// the first entry is the most recent run.
const KEEP_GEOMETRIES = 4;
const workspaces = new WeakMap<object, Map<RunMode, CellWorkspace[]>>();

export abstract class Cell<W extends CellWorkspace = CellWorkspace> extends Module<Tensor[], Tensor[]> {
  /** Number of state tensors (RnnCell, GRU: 1; LSTM: 2). State 0 is the output. */
  abstract readonly nStates: number;

  /** The per-step input this cell takes, for messages: e.g. `[batch, 10]`. */
  abstract stepInputDesc(): string;
  /** Whether a per-step input of this shape ([batch, ...]) is acceptable. */
  abstract acceptsStepInput(shape: Shape): boolean;
  /** Shape of each state tensor for a per-step input of shape `stepShape`. */
  abstract stateShapeFor(stepShape: Shape): number[];
  /** Re-initialises the parameters. */
  abstract reset(): this;

  // ---- the per-cell hooks of the sequence protocol (called by the containers) -----------------

  protected abstract createWorkspace(mode: RunMode, T: number, xShape: Shape, stateShape: Shape): W;
  /** Called before a forward pass (e.g. to sum the two bias vectors once). */
  protected beginForward(_ws: W): void {}
  /** Called before a backward pass. */
  protected beginBackward(_ws: W): void {}
  /** Input projection of every step at once; x is contiguous [B, T, ...in]. */
  protected abstract projectAll(ws: W, x: Tensor): void;
  /** Input projection of step t alone (the decoder, whose inputs are its own outputs). */
  protected abstract projectStep(ws: W, t: number, xt: Tensor): void;
  /** Step t, after its input projection: from the previous state to ws.at[t]. */
  protected abstract forwardStep(ws: W, t: number, prev: readonly Tensor[], cur: readonly Tensor[]): void;
  /**
   * Backward through step t. `grad` holds dL/d(state at t) in full and may be overwritten.
   * Adds into gradPrev[0] (it already holds the output gradient of the previous step) and
   * overwrites gradPrev[k] for k > 0. Keeps what accGrad and the input gradient need.
   */
  protected abstract backwardStep(ws: W, t: number, prev: readonly Tensor[], cur: readonly Tensor[], grad: readonly Tensor[],
    gradPrev: readonly Tensor[]): void;
  /** dL/dx for every step at once into gx [B, T, ...in] (overwrites), after backwardStep ran for all steps. */
  protected abstract gradInputAll(ws: W, gx: Tensor): void;
  /** target += dL/dx_t, after backwardStep(t). */
  protected abstract gradInputStep(ws: W, t: number, target: Tensor): void;
  /** Adds scale * the parameter gradients of the whole run; x: the inputs as contiguous [B, T, ...in]. */
  protected abstract accGrad(ws: W, x: Tensor, scale: number): void;

  // ---- workspaces ------------------------------------------------------------------------------

  /** The workspace for this geometry (reused when it was seen recently), made the most recent. */
  protected workspace(mode: RunMode, T: number, xShape: Shape): W {
    let m = workspaces.get(this);
    if (!m) workspaces.set(this, (m = new Map()));
    let list = m.get(mode);
    if (!list) m.set(mode, (list = []));
    const i = list.findIndex((w) => w.T === T && sameShape(w.xShape, xShape));
    const ws = i >= 0 ? list.splice(i, 1)[0] : this.createWorkspace(mode, T, xShape, this.stateShapeFor(xShape));
    list.unshift(ws);
    if (list.length > KEEP_GEOMETRIES) list.length = KEEP_GEOMETRIES;
    return ws as W;
  }

  /** The workspace of the last run in this mode. */
  lastRun(mode: RunMode, who: string, what = 'backward'): W {
    const ws = workspaces.get(this)?.get(mode)?.[0] as W | undefined;
    if (!ws || !ws.forwarded) throw new Error(`${who}: ${what} needs a forward first`);
    return ws;
  }

  // ---- the sequence protocol -------------------------------------------------------------------

  /** Runs the cell over x [B, T, ...in] from `init` (null: zeros). The output is ws.states[0]. */
  runSequence(x: Tensor, init: readonly Tensor[] | null, reverse: boolean): W {
    const T = x.shape[1];
    const ws = this.workspace('sequence', T, [x.shape[0], ...x.shape.slice(2)]);
    ws.useInit(init);
    ws.reverse = reverse;
    ws.backwarded = false;
    this.beginForward(ws);
    this.projectAll(ws, ws.contiguous(x));
    for (let s = 0; s < T; s++) {
      const t = reverse ? T - 1 - s : s;
      this.forwardStep(ws, t, ws.prevStates(t), ws.at[t]);
    }
    ws.forwarded = true;
    return ws;
  }

  /** BPTT over the last runSequence: ws.gradX gets dL/dx, ws.gradInit dL/d(initial state). */
  backSequence(ws: W, gradOutput: Tensor, gradFinal: readonly Tensor[] | null): void {
    this.seedGradients(ws, gradOutput, gradFinal);
    this.beginBackward(ws);
    for (let s = ws.T - 1; s >= 0; s--) {
      const t = ws.reverse ? ws.T - 1 - s : s;
      this.backwardStep(ws, t, ws.prevStates(t), ws.at[t], ws.gradAt[t], ws.prevGrads(t));
    }
    this.gradInputAll(ws, ws.gradX);
    ws.backwarded = true;
  }

  accSequence(ws: W, x: Tensor, scale: number, who: string): void {
    if (!ws.backwarded) throw new Error(`${who}: accGradParameters needs updateGradInput first`);
    this.accGrad(ws, ws.contiguous(x), scale);
  }

  /** Runs T steps feeding each output back as the next input; x0 [B, ...] is the first input. */
  runDecoder(x0: Tensor, T: number, init: readonly Tensor[] | null): W {
    const ws = this.workspace('decoder', T, x0.shape);
    ws.useInit(init);
    ws.reverse = false;
    ws.backwarded = false;
    this.beginForward(ws);
    for (let t = 0; t < T; t++) {
      this.projectStep(ws, t, t === 0 ? x0 : ws.at[t - 1][0]);
      this.forwardStep(ws, t, ws.prevStates(t), ws.at[t]);
    }
    ws.forwarded = true;
    return ws;
  }

  backDecoder(ws: W, gradOutput: Tensor, gradFinal: readonly Tensor[] | null): void {
    this.seedGradients(ws, gradOutput, gradFinal);
    ws.gradX.zero_();
    this.beginBackward(ws);
    for (let t = ws.T - 1; t >= 0; t--) {
      this.backwardStep(ws, t, ws.prevStates(t), ws.at[t], ws.gradAt[t], ws.prevGrads(t));
      // the input of step t is the output of step t-1
      this.gradInputStep(ws, t, t === 0 ? ws.gradX : ws.gradAt[t - 1][0]);
    }
    ws.backwarded = true;
  }

  accDecoder(ws: W, x0: Tensor, scale: number, who: string): void {
    if (!ws.backwarded) throw new Error(`${who}: accGradParameters needs updateGradInput first`);
    const inputs = ws.buf('decoderInputs', [ws.B, ws.T, ...x0.shape.slice(1)]);
    shiftInto(inputs, ws.states[0], x0, false);
    this.accGrad(ws, inputs, scale);
  }

  private seedGradients(ws: W, gradOutput: Tensor, gradFinal: readonly Tensor[] | null): void {
    ws.grads[0].copy_(gradOutput);
    const last = ws.gradAt[ws.reverse ? 0 : ws.T - 1];
    for (let k = 1; k < this.nStates; k++) {
      if (gradFinal) last[k].copy_(gradFinal[k]);
      else last[k].zero_();
    }
    if (gradFinal) last[0].add_(gradFinal[0]);
    ws.gradInit[0].zero_();
  }

  // ---- one step as a Module: forward([x, ...state]) -> [h, ...state] ---------------------------

  /** Validates a step table [x] or [x, ...state]; returns x and the state (null: zeros). */
  private stepTable(input: Tensor[]): { x: Tensor; state: Tensor[] | null } {
    const n = this.nStates;
    if (!Array.isArray(input) || (input.length !== 1 && input.length !== 1 + n) || !input.every((t) => t instanceof Tensor)) {
      throw new RangeError(`${this.getName()}: expected a table [x] or [x, ${n === 1 ? 'h' : 'h, c'}] of tensors, got ${describe(input)}`);
    }
    const x = input[0];
    if (x.dtype !== 'float32' || !this.acceptsStepInput(x.shape)) badInput(this, `${this.stepInputDesc()} float32`, x);
    if (input.length === 1) return { x, state: null };
    const expected = this.stateShapeFor(x.shape);
    for (let k = 1; k <= n; k++) {
      if (!sameShape(input[k].shape, expected) || input[k].dtype !== 'float32') {
        throw new RangeError(`${this.getName()}: state ${k - 1} must be float32 ${shapeStr(expected)}, got ${input[k].dtype} ${shapeStr(input[k].shape)}`);
      }
    }
    return { x, state: input.slice(1) };
  }

  updateOutput(input: Tensor[]): Tensor[] {
    const { x, state } = this.stepTable(input);
    const ws = this.workspace('step', 1, x.shape);
    ws.useInit(state);
    ws.reverse = false;
    ws.backwarded = false;
    this.beginForward(ws);
    this.projectStep(ws, 0, x);
    this.forwardStep(ws, 0, ws.prevStates(0), ws.at[0]);
    ws.forwarded = true;
    this.output = ws.at[0];
    return this.output;
  }

  updateGradInput(input: Tensor[], gradOutput: Tensor[]): Tensor[] {
    const { x, state } = this.stepTable(input);
    const ws = this.lastRun('step', this.getName());
    if (!sameShape(ws.xShape, x.shape)) throw new RangeError(`${this.getName()}: backward input ${shapeStr(x.shape)} differs from the forward input ${shapeStr(ws.xShape)}`);
    if (!Array.isArray(gradOutput) || gradOutput.length !== this.nStates || gradOutput.some((g, k) => !(g instanceof Tensor) || !sameShape(g.shape, ws.stateShape))) {
      throw new RangeError(`${this.getName()}: gradOutput must be a table of ${this.nStates} tensors ${shapeStr(ws.stateShape)}, got ${describe(gradOutput)}`);
    }
    for (let k = 0; k < this.nStates; k++) ws.gradAt[0][k].copy_(gradOutput[k]);
    ws.gradInit[0].zero_();
    this.beginBackward(ws);
    this.backwardStep(ws, 0, ws.prevStates(0), ws.at[0], ws.gradAt[0], ws.gradInit);
    ws.gradX.zero_();
    this.gradInputStep(ws, 0, ws.gradX);
    ws.backwarded = true;
    // the returned table is cached on the workspace: repeated calls return the same objects
    const withState = state !== null;
    if (!ws.stepGradTable || ws.stepGradTable.length !== (withState ? 1 + this.nStates : 1)) {
      ws.stepGradTable = withState ? [ws.gradX, ...ws.gradInit] : [ws.gradX];
    }
    this.gradInput = ws.stepGradTable;
    return this.gradInput;
  }

  override accGradParameters(input: Tensor[], _gradOutput: Tensor[], scale = 1): void {
    const { x } = this.stepTable(input);
    const ws = this.lastRun('step', this.getName());
    if (!ws.backwarded) throw new Error(`${this.getName()}: accGradParameters needs updateGradInput first`);
    const xs = x.isContiguous() ? x.unsqueeze(1) : ws.buf('x', [ws.B, 1, ...x.shape.slice(1)]).copy_(x.unsqueeze(1));
    this.accGrad(ws, xs, scale);
  }
}

function describe(a: unknown): string {
  if (a instanceof Tensor) return `a tensor ${a.dtype} ${shapeStr(a.shape)}`;
  if (Array.isArray(a)) return `a table of ${a.length}: [${a.map((t) => (t instanceof Tensor ? shapeStr(t.shape) : typeof t)).join(', ')}]`;
  return typeof a;
}

/** Throws unless `n` is a positive integer; names the layer and the argument. */
export function requirePositive(layer: string, what: string, n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${layer}: ${what} must be a positive integer, got ${n}`);
}
