import { Tensor } from '../../tensor/tensor.js';
import * as ops from '../../tensor/ops.js';
import type { Shape } from '../../tensor/shape.js';
import { ReLU, Sigmoid, Tanh } from '../activations.js';
import { Default, type InitializationMethod } from '../init.js';
import type { Module, Parameter } from '../module.js';
import { Cell, CellWorkspace, requirePositive, type RunMode } from './cell.js';
import { acceptsDenseStep, denseStateShape, denseStepInputDesc, initDenseGates } from './dense-cell.js';
import { accDense } from './lstm.js';

/**
 * Elman RNN cell: h' = activation(W_ih x + b_ih + W_hh h + b_hh), PyTorch's nn.RNN layout
 * (weightIH [H, in], weightHH [H, H], biasIH, biasHH [H]). The activation is Tanh by default;
 * Tanh, Sigmoid and ReLU run as fused kernels on the cell's own buffers, any other
 * parameter-free pointwise module is applied step by step. State: [h].
 */

type Fast = 'tanh' | 'sigmoid' | 'relu' | null;

class RnnWorkspace extends CellWorkspace {
  /** pre-activations [B, T, H] (only for activations without a fused path) */
  readonly pre: Tensor;
  readonly preAt: Tensor[] = [];
  readonly dG: Tensor;
  readonly dgAt: Tensor[] = [];

  constructor(mode: RunMode, T: number, xShape: Shape, stateShape: Shape, keepPre: boolean) {
    super(mode, T, xShape, stateShape, 1);
    const seq = [stateShape[0], T, stateShape[1]];
    this.pre = keepPre ? Tensor.zeros(seq) : this.states[0];
    this.dG = Tensor.zeros(seq);
    for (let t = 0; t < T; t++) {
      this.preAt.push(this.pre.select(1, t));
      this.dgAt.push(this.dG.select(1, t));
    }
  }
}

export class RnnCell extends Cell<RnnWorkspace> {
  readonly nStates = 1;
  readonly weightIH: Parameter;
  readonly weightHH: Parameter;
  readonly biasIH: Parameter;
  readonly biasHH: Parameter;
  private readonly fast: Fast;

  constructor(readonly inputSize: number, readonly hiddenSize: number, readonly activation: Module = new Tanh()) {
    super();
    requirePositive('RnnCell', 'inputSize', inputSize);
    requirePositive('RnnCell', 'hiddenSize', hiddenSize);
    if (activation.parameterCount() > 0) throw new RangeError(`RnnCell: the activation ${activation.getName()} must have no parameters`);
    this.fast = activation instanceof Tanh ? 'tanh' : activation instanceof Sigmoid ? 'sigmoid' : activation instanceof ReLU ? 'relu' : null;
    this.weightIH = this.registerParameter('weightIH', Tensor.empty([hiddenSize, inputSize]));
    this.weightHH = this.registerParameter('weightHH', Tensor.empty([hiddenSize, hiddenSize]));
    this.biasIH = this.registerParameter('biasIH', Tensor.empty([hiddenSize]));
    this.biasHH = this.registerParameter('biasHH', Tensor.empty([hiddenSize]));
    this.reset();
  }

  /** PyTorch's initialisation: U(-1/sqrt(hiddenSize), 1/sqrt(hiddenSize)) unless given. */
  reset(weightInit: InitializationMethod = Default, biasInit: InitializationMethod = Default): this {
    initDenseGates(this, this.hiddenSize, 1, weightInit, biasInit);
    return this;
  }

  stepInputDesc(): string {
    return denseStepInputDesc(this.inputSize);
  }

  acceptsStepInput(shape: Shape): boolean {
    return acceptsDenseStep(shape, this.inputSize);
  }

  stateShapeFor(stepShape: Shape): number[] {
    return denseStateShape(stepShape, this.hiddenSize);
  }

  protected createWorkspace(mode: RunMode, T: number, xShape: Shape, stateShape: Shape): RnnWorkspace {
    return new RnnWorkspace(mode, T, xShape, stateShape, this.fast === null);
  }

  private biasSum(ws: RnnWorkspace): Tensor {
    return ws.buf('biasSum', [this.hiddenSize]);
  }

  protected override beginForward(ws: RnnWorkspace): void {
    ops.add(this.biasIH.weight, this.biasHH.weight, 1, this.biasSum(ws));
  }

  protected projectAll(ws: RnnWorkspace, x: Tensor): void {
    ops.addmm(this.biasSum(ws), x.view(ws.N, this.inputSize), this.weightIH.weight.t(), {}, ws.pre.view(ws.N, this.hiddenSize));
  }

  protected projectStep(ws: RnnWorkspace, t: number, xt: Tensor): void {
    ops.addmm(this.biasSum(ws), xt, this.weightIH.weight.t(), {}, ws.preAt[t]);
  }

  protected forwardStep(ws: RnnWorkspace, t: number, prev: readonly Tensor[], cur: readonly Tensor[]): void {
    const z = ws.preAt[t], h = cur[0];
    if (!ws.zeroStart(t)) ops.addmm(z, prev[0], this.weightHH.weight.t(), {}, z);
    switch (this.fast) {
      case 'tanh': ops.tanh(z, h); break;
      case 'sigmoid': ops.sigmoid(z, h); break;
      case 'relu': ops.relu(z, h); break;
      default: h.copy_(this.activation.forward(z) as Tensor);
    }
  }

  protected backwardStep(ws: RnnWorkspace, t: number, _prev: readonly Tensor[], cur: readonly Tensor[], grad: readonly Tensor[],
    gradPrev: readonly Tensor[]): void {
    const h = cur[0], dh = grad[0], dz = ws.dgAt[t];
    switch (this.fast) {
      case 'tanh': ops.tanhBackward(h, dh, dz); break;
      case 'sigmoid': ops.sigmoidBackward(h, dh, dz); break;
      case 'relu': ops.thresholdBackward(h, dh, 0, dz); break;
      default: {
        // a generic activation keeps one output buffer: recompute this step's forward first
        const z = ws.preAt[t];
        this.activation.forward(z);
        dz.copy_(this.activation.updateGradInput(z, dh) as Tensor);
      }
    }
    ops.addmm(gradPrev[0], dz, this.weightHH.weight, {}, gradPrev[0]);
  }

  protected gradInputAll(ws: RnnWorkspace, gx: Tensor): void {
    ops.mm(ws.dG.view(ws.N, this.hiddenSize), this.weightIH.weight, gx.view(ws.N, this.inputSize));
  }

  protected gradInputStep(ws: RnnWorkspace, t: number, target: Tensor): void {
    ops.addmm(target, ws.dgAt[t], this.weightIH.weight, {}, target);
  }

  protected accGrad(ws: RnnWorkspace, x: Tensor, scale: number): void {
    accDense(ws, ws.dG, x, ws.prevSeq(0), this.weightIH, this.weightHH, scale);
    const H = this.hiddenSize, db = ws.buf('db', [1, H]);
    ops.mm(ws.onesRow(ws.N), ws.dG.view(ws.N, H), db);
    this.biasIH.gradient.add_(db.view(H), scale);
    this.biasHH.gradient.add_(db.view(H), scale);
  }

  protected override extraRepr(): string {
    return `(${this.inputSize} -> ${this.hiddenSize}, ${this.activation.getName()})`;
  }
}
