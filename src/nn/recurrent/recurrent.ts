import { Tensor } from '../../tensor/tensor.js';
import * as ops from '../../tensor/ops.js';
import { sameShape, shapeStr } from '../../tensor/shape.js';
import { badInput, ensureShape, Module } from '../module.js';
import { Cell, requirePositive, type CellWorkspace, type RunMode } from './cell.js';

/** A state given as one tensor (RnnCell, GRU) or a table (LSTM: [h, c]). */
export type HiddenState = Tensor | Tensor[];

/** Throws (naming `layer`) unless input is a float32 [batch, time, ...step input] for `cell`. */
function checkSequence(layer: Module<any, any>, cell: Cell<any>, input: Tensor): void {
  if (!(input instanceof Tensor) || input.dtype !== 'float32' || input.ndim < 3 || input.shape[1] < 1
    || !cell.acceptsStepInput([input.shape[0], ...input.shape.slice(2)])) {
    badInput(layer, `[batch, time, ${cell.stepInputDesc().slice('[batch, '.length)} float32 for ${cell.getName()}`, input);
  }
}

/** Shared by Recurrent and RecurrentDecoder: the cell, and the initial/final state API. */
abstract class RecurrentBase extends Module {
  protected cell: Cell<any> | null = null;
  private initState: Tensor[] | null = null;
  private readonly initBufs: Tensor[] = [];
  private gradFinalState: Tensor[] | null = null;
  protected abstract readonly mode: RunMode;

  /** Sets the cell to run (one per container). */
  add(cell: Cell<any>): this {
    if (!(cell instanceof Cell)) throw new TypeError(`${this.getName()}.add: expected a recurrent cell (RnnCell, LSTM, GRU, ...), got ${(cell as object)?.constructor?.name ?? typeof cell}`);
    if (this.cell) throw new RangeError(`${this.getName()}.add: the container already holds ${this.cell.getName()}; use one cell per container`);
    this.cell = cell;
    this.modules.push(cell);
    return this;
  }

  getCell(): Cell<any> {
    if (!this.cell) throw new Error(`${this.getName()}: add a cell first, e.g. new ${this.constructor.name}().add(new LSTM(inputSize, hiddenSize))`);
    return this.cell;
  }

  /**
   * The initial state of the following forward passes (null: zeros). A tensor for one-state
   * cells, [h, c] for LSTMs, each [batch, hidden] (or [batch, C, H, W]). The values are copied,
   * so `rec.setHiddenState(rec.getHiddenState())` carries the state into the next batch.
   */
  setHiddenState(state: HiddenState | null): this {
    if (state === null) {
      this.initState = null;
      return this;
    }
    const given = state instanceof Tensor ? [state] : [...state];
    const bufs = this.initBufs;
    this.initState = given.map((t, k) => {
      if (!(t instanceof Tensor)) return t;
      if (!bufs[k] || !sameShape(bufs[k].shape, t.shape) || bufs[k].dtype !== t.dtype) bufs[k] = Tensor.empty(t.shape, { dtype: t.dtype });
      return bufs[k].copy_(t);
    });
    return this;
  }

  /** The state after the last time step of the last forward (views into this layer's buffers). */
  getHiddenState(): HiddenState {
    const ws = this.getCell().lastRun(this.mode, this.getName(), 'getHiddenState');
    const last = ws.at[ws.reverse ? 0 : ws.T - 1];
    return last.length === 1 ? last[0] : [...last];
  }

  /** dL/d(initial state) from the last backward (zeros are assumed when no initial state was set). */
  getGradHiddenState(): HiddenState {
    const ws = this.getCell().lastRun(this.mode, this.getName(), 'getGradHiddenState');
    if (!ws.backwarded) throw new Error(`${this.getName()}: getGradHiddenState needs a backward first`);
    return ws.gradInit.length === 1 ? ws.gradInit[0] : [...ws.gradInit];
  }

  /**
   * A gradient arriving at the final state from outside (e.g. a decoder started from this
   * layer's final state), added in the following backward passes; null clears it.
   */
  setGradHiddenState(grad: HiddenState | null): this {
    this.gradFinalState = grad === null ? null : grad instanceof Tensor ? [grad] : [...grad];
    return this;
  }

  protected checkedInit(stateShape: readonly number[]): Tensor[] | null {
    return this.checkState('initial state (setHiddenState)', this.initState, stateShape);
  }

  protected checkedGradFinal(stateShape: readonly number[]): Tensor[] | null {
    return this.checkState('final-state gradient (setGradHiddenState)', this.gradFinalState, stateShape);
  }

  private checkState(what: string, s: Tensor[] | null, stateShape: readonly number[]): Tensor[] | null {
    if (!s) return null;
    const n = this.getCell().nStates;
    if (s.length !== n || s.some((t) => !(t instanceof Tensor) || t.dtype !== 'float32' || !sameShape(t.shape, stateShape))) {
      throw new RangeError(`${this.getName()}: the ${what} must be ${n === 1 ? 'a tensor' : `a table of ${n} tensors`} float32 ${shapeStr(stateShape)}, got [${s.map((t) => (t instanceof Tensor ? shapeStr(t.shape) : typeof t)).join(', ')}]`);
    }
    return s;
  }

  protected checkGradOutput(gradOutput: Tensor): void {
    if (!(gradOutput instanceof Tensor) || !sameShape(gradOutput.shape, this.output.shape)) {
      throw new RangeError(`${this.getName()}: gradOutput ${gradOutput instanceof Tensor ? shapeStr(gradOutput.shape) : typeof gradOutput} does not match the output ${shapeStr(this.output.shape)}`);
    }
  }

  protected override extraRepr(): string {
    return '';
  }
}

export interface RecurrentOptions {
  /** run from the last time step to the first (the backward half of BiRecurrent) */
  reverse?: boolean;
}

/**
 * Runs a cell over a batch-first sequence: input [batch, time, ...in], output
 * [batch, time, ...hidden] (every step's h), with full backpropagation through time.
 * `new Recurrent().add(new LSTM(10, 20))`.
 */
export class Recurrent extends RecurrentBase {
  protected readonly mode = 'sequence' as const;
  readonly reverse: boolean;

  constructor(opts: RecurrentOptions = {}) {
    super();
    this.reverse = opts.reverse ?? false;
  }

  private lastWs(): CellWorkspace {
    return this.getCell().lastRun('sequence', this.getName());
  }

  updateOutput(input: Tensor): Tensor {
    const cell = this.getCell();
    checkSequence(this, cell, input);
    const init = this.checkedInit(cell.stateShapeFor([input.shape[0], ...input.shape.slice(2)]));
    this.output = cell.runSequence(input, init, this.reverse).states[0];
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    this.checkGradOutput(gradOutput);
    const ws = this.lastWs();
    if (input.ndim < 3 || input.shape[1] !== ws.T || !sameShape([input.shape[0], ...input.shape.slice(2)], ws.xShape)) {
      throw new RangeError(`${this.getName()}: backward input ${shapeStr(input.shape)} differs from the forward input`);
    }
    this.getCell().backSequence(ws, gradOutput, this.checkedGradFinal(ws.stateShape));
    this.gradInput = ws.gradX;
    return this.gradInput;
  }

  override accGradParameters(input: Tensor, _gradOutput: Tensor, scale = 1): void {
    this.getCell().accSequence(this.lastWs(), input, scale, this.getName());
  }

  protected override extraRepr(): string {
    return this.reverse ? '(reverse)' : '';
  }
}

/**
 * Feeds each step's output back as the next step's input, for seq2seq decoders:
 * input [batch, ...in] is the first step's input, output [batch, seqLength, ...hidden].
 * The cell's output shape must equal its input shape (e.g. LSTM(h, h)).
 * `new RecurrentDecoder(10).add(new LSTM(32, 32)).setHiddenState(encoder.getHiddenState())`.
 */
export class RecurrentDecoder extends RecurrentBase {
  protected readonly mode = 'decoder' as const;

  constructor(readonly seqLength: number) {
    super();
    requirePositive('RecurrentDecoder', 'seqLength', seqLength);
  }

  updateOutput(input: Tensor): Tensor {
    const cell = this.getCell();
    if (!(input instanceof Tensor) || input.dtype !== 'float32' || !cell.acceptsStepInput(input.shape)) {
      badInput(this, `${cell.stepInputDesc()} float32 for ${cell.getName()}`, input);
    }
    const stateShape = cell.stateShapeFor(input.shape);
    if (!sameShape(stateShape, input.shape)) {
      throw new RangeError(`${this.getName()}: ${cell.getName()} maps ${shapeStr(input.shape)} to ${shapeStr(stateShape)}; feeding outputs back needs equal shapes`);
    }
    this.output = cell.runDecoder(input, this.seqLength, this.checkedInit(stateShape)).states[0];
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    this.checkGradOutput(gradOutput);
    const ws = this.getCell().lastRun('decoder', this.getName());
    if (!sameShape(ws.xShape, input.shape)) throw new RangeError(`${this.getName()}: backward input ${shapeStr(input.shape)} differs from the forward input`);
    this.getCell().backDecoder(ws, gradOutput, this.checkedGradFinal(ws.stateShape));
    this.gradInput = ws.gradX;
    return this.gradInput;
  }

  override accGradParameters(input: Tensor, _gradOutput: Tensor, scale = 1): void {
    this.getCell().accDecoder(this.getCell().lastRun('decoder', this.getName()), input, scale, this.getName());
  }

  protected override extraRepr(): string {
    return `(${this.seqLength} steps)`;
  }
}

export type MergeMode = 'add' | 'concat';

/**
 * Bidirectional RNN (BigDL's BiRecurrent): one copy of the cell reads the sequence forwards,
 * an independently initialised copy reads it backwards, and their outputs are merged by
 * 'add' (BigDL's default, CAddTable) or 'concat' (along the feature dim, forward half first,
 * as PyTorch's bidirectional layers). Input [batch, time, ...in].
 */
export class BiRecurrent extends Module {
  private fwd: Recurrent | null = null;
  private bwd: Recurrent | null = null;

  constructor(readonly merge: MergeMode = 'add') {
    super();
    if (merge !== 'add' && merge !== 'concat') throw new RangeError(`BiRecurrent: merge must be 'add' or 'concat', got ${String(merge)}`);
  }

  add(cell: Cell<any>): this {
    if (this.fwd) throw new RangeError(`${this.getName()}.add: the container already holds a cell`);
    if (!(cell instanceof Cell)) throw new TypeError(`${this.getName()}.add: expected a recurrent cell (RnnCell, LSTM, GRU, ...)`);
    const reversed = cell.clone().reset();
    this.fwd = new Recurrent().add(cell);
    this.bwd = new Recurrent({ reverse: true }).add(reversed);
    this.modules.push(this.fwd, this.bwd);
    return this;
  }

  private layers(): [Recurrent, Recurrent] {
    if (!this.fwd || !this.bwd) throw new Error(`${this.getName()}: add a cell first, e.g. new BiRecurrent().add(new LSTM(inputSize, hiddenSize))`);
    return [this.fwd, this.bwd];
  }

  updateOutput(input: Tensor): Tensor {
    const [f, b] = this.layers();
    checkSequence(this, f.getCell(), input);
    const yf = f.forward(input), yb = b.forward(input);
    if (this.merge === 'add') {
      this.output = ensureShape(this.output, yf.shape);
      ops.add(yf, yb, 1, this.output);
    } else {
      const shape = yf.shape.slice();
      const H = shape[2];
      shape[2] = 2 * H;
      this.output = ensureShape(this.output, shape);
      this.output.narrow(2, 0, H).copy_(yf);
      this.output.narrow(2, H, H).copy_(yb);
    }
    return this.output;
  }

  private gradHalves(gradOutput: Tensor): [Tensor, Tensor] {
    if (!(gradOutput instanceof Tensor) || !sameShape(gradOutput.shape, this.output.shape)) {
      throw new RangeError(`${this.getName()}: gradOutput ${gradOutput instanceof Tensor ? shapeStr(gradOutput.shape) : typeof gradOutput} does not match the output ${shapeStr(this.output.shape)}`);
    }
    if (this.merge === 'add') return [gradOutput, gradOutput];
    const H = gradOutput.shape[2] / 2;
    return [gradOutput.narrow(2, 0, H), gradOutput.narrow(2, H, H)];
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    const [f, b] = this.layers();
    const [gf, gb] = this.gradHalves(gradOutput);
    const xf = f.updateGradInput(input, gf), xb = b.updateGradInput(input, gb);
    this.gradInput = ensureShape(this.gradInput, input.shape);
    ops.add(xf, xb, 1, this.gradInput);
    return this.gradInput;
  }

  override accGradParameters(input: Tensor, gradOutput: Tensor, scale = 1): void {
    const [f, b] = this.layers();
    const [gf, gb] = this.gradHalves(gradOutput);
    f.accGradParameters(input, gf, scale);
    b.accGradParameters(input, gb, scale);
  }

  protected override extraRepr(): string {
    return `(${this.merge})`;
  }
}
