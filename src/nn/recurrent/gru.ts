import { Tensor } from '../../tensor/tensor.js';
import * as ops from '../../tensor/ops.js';
import type { Shape } from '../../tensor/shape.js';
import { Default, type InitializationMethod } from '../init.js';
import type { Parameter } from '../module.js';
import { Cell, CellWorkspace, requirePositive, type RunMode } from './cell.js';
import { acceptsDenseStep, denseStateShape, denseStepInputDesc, initDenseGates } from './dense-cell.js';
import { accDense } from './lstm.js';

/**
 * Gated recurrent unit in PyTorch's formulation and layout (gates r, z, n):
 *   r = σ(W_ir x + b_ir + W_hr h + b_hr)     z = σ(W_iz x + b_iz + W_hz h + b_hz)
 *   n = tanh(W_in x + b_in + r ∘ (W_hn h + b_hn))
 *   h' = (1 - z) ∘ n + z ∘ h
 * weightIH [3H, in], weightHH [3H, H], biasIH, biasHH [3H]. State: [h].
 */

interface GruViews { all: Tensor; rz: Tensor; r: Tensor; z: Tensor; n: Tensor }

function views(t: Tensor, H: number): GruViews {
  return { all: t, rz: t.narrow(1, 0, 2 * H), r: t.narrow(1, 0, H), z: t.narrow(1, H, H), n: t.narrow(1, 2 * H, H) };
}

class GRUWorkspace extends CellWorkspace {
  /** input projections + b_ih [B, T, 3H]; r, z and n are computed into it in place */
  readonly GI: Tensor;
  /** hidden projections + b_hh [B, T, 3H] */
  readonly GH: Tensor;
  readonly dGI: Tensor;
  readonly dGH: Tensor;
  readonly gi: GruViews[] = [];
  readonly gh: GruViews[] = [];
  readonly dgi: GruViews[] = [];
  readonly dgh: GruViews[] = [];
  readonly tmp: Tensor;
  readonly tmpZ: Tensor;

  constructor(mode: RunMode, T: number, xShape: Shape, stateShape: Shape) {
    super(mode, T, xShape, stateShape, 1);
    const [B, H] = stateShape;
    const seq = [B, T, 3 * H];
    this.GI = Tensor.zeros(seq);
    this.GH = Tensor.zeros(seq);
    this.dGI = Tensor.zeros(seq);
    this.dGH = Tensor.zeros(seq);
    for (let t = 0; t < T; t++) {
      this.gi.push(views(this.GI.select(1, t), H));
      this.gh.push(views(this.GH.select(1, t), H));
      this.dgi.push(views(this.dGI.select(1, t), H));
      this.dgh.push(views(this.dGH.select(1, t), H));
    }
    this.tmp = Tensor.zeros(stateShape);
    this.tmpZ = Tensor.zeros(stateShape);
  }
}

export class GRU extends Cell<GRUWorkspace> {
  readonly nStates = 1;
  readonly weightIH: Parameter;
  readonly weightHH: Parameter;
  readonly biasIH: Parameter;
  readonly biasHH: Parameter;

  constructor(readonly inputSize: number, readonly hiddenSize: number) {
    super();
    requirePositive('GRU', 'inputSize', inputSize);
    requirePositive('GRU', 'hiddenSize', hiddenSize);
    this.weightIH = this.registerParameter('weightIH', Tensor.empty([3 * hiddenSize, inputSize]));
    this.weightHH = this.registerParameter('weightHH', Tensor.empty([3 * hiddenSize, hiddenSize]));
    this.biasIH = this.registerParameter('biasIH', Tensor.empty([3 * hiddenSize]));
    this.biasHH = this.registerParameter('biasHH', Tensor.empty([3 * hiddenSize]));
    this.reset();
  }

  /** PyTorch's initialisation: U(-1/sqrt(hiddenSize), 1/sqrt(hiddenSize)) unless given. */
  reset(weightInit: InitializationMethod = Default, biasInit: InitializationMethod = Default): this {
    initDenseGates(this, this.hiddenSize, 3, weightInit, biasInit);
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

  protected createWorkspace(mode: RunMode, T: number, xShape: Shape, stateShape: Shape): GRUWorkspace {
    return new GRUWorkspace(mode, T, xShape, stateShape);
  }

  protected projectAll(ws: GRUWorkspace, x: Tensor): void {
    ops.addmm(this.biasIH.weight, x.view(ws.N, this.inputSize), this.weightIH.weight.t(), {}, ws.GI.view(ws.N, 3 * this.hiddenSize));
  }

  protected projectStep(ws: GRUWorkspace, t: number, xt: Tensor): void {
    ops.addmm(this.biasIH.weight, xt, this.weightIH.weight.t(), {}, ws.gi[t].all);
  }

  protected forwardStep(ws: GRUWorkspace, t: number, prev: readonly Tensor[], cur: readonly Tensor[]): void {
    const hp = prev[0], h = cur[0], gi = ws.gi[t], gh = ws.gh[t], tmp = ws.tmp;
    if (ws.zeroStart(t)) gh.all.copy_(this.biasHH.weight);
    else ops.addmm(this.biasHH.weight, hp, this.weightHH.weight.t(), {}, gh.all);
    ops.add(gi.rz, gh.rz, 1, gi.rz);
    ops.sigmoid(gi.rz, gi.rz);
    ops.mul(gi.r, gh.n, tmp);
    ops.add(gi.n, tmp, 1, gi.n);
    ops.tanh(gi.n, gi.n);
    // h = n + z * (h_prev - n)
    ops.sub(hp, gi.n, 1, tmp);
    ops.mul(gi.z, tmp, tmp);
    ops.add(gi.n, tmp, 1, h);
  }

  protected backwardStep(ws: GRUWorkspace, t: number, prev: readonly Tensor[], _cur: readonly Tensor[], grad: readonly Tensor[],
    gradPrev: readonly Tensor[]): void {
    const hp = prev[0], dh = grad[0], dhp = gradPrev[0];
    const gi = ws.gi[t], gh = ws.gh[t], dgi = ws.dgi[t], dgh = ws.dgh[t], tmp = ws.tmp, tmpZ = ws.tmpZ;
    // z
    ops.sub(hp, gi.n, 1, tmp);
    ops.mul(dh, tmp, tmp);
    ops.sigmoidBackward(gi.z, tmp, dgi.z);
    // n: dn = dh * (1 - z)
    ops.mul(dh, gi.z, tmpZ);
    ops.sub(dh, tmpZ, 1, tmp);
    ops.tanhBackward(gi.n, tmp, dgi.n);
    // r and the hidden part of n
    ops.mul(dgi.n, gi.r, dgh.n);
    ops.mul(dgi.n, gh.n, tmp);
    ops.sigmoidBackward(gi.r, tmp, dgi.r);
    dgh.rz.copy_(dgi.rz);
    // h_prev: directly through z, and through the hidden projection
    ops.add(dhp, tmpZ, 1, dhp);
    ops.addmm(dhp, dgh.all, this.weightHH.weight, {}, dhp);
  }

  protected gradInputAll(ws: GRUWorkspace, gx: Tensor): void {
    ops.mm(ws.dGI.view(ws.N, 3 * this.hiddenSize), this.weightIH.weight, gx.view(ws.N, this.inputSize));
  }

  protected gradInputStep(ws: GRUWorkspace, t: number, target: Tensor): void {
    ops.addmm(target, ws.dgi[t].all, this.weightIH.weight, {}, target);
  }

  protected accGrad(ws: GRUWorkspace, x: Tensor, scale: number): void {
    accDense(ws, ws.dGI, x, ws.prevSeq(0), this.weightIH, this.weightHH, scale, ws.dGH);
    const G = 3 * this.hiddenSize, ones = ws.onesRow(ws.N), db = ws.buf('db', [1, G]);
    ops.mm(ones, ws.dGI.view(ws.N, G), db);
    this.biasIH.gradient.add_(db.view(G), scale);
    ops.mm(ones, ws.dGH.view(ws.N, G), db);
    this.biasHH.gradient.add_(db.view(G), scale);
  }

  protected override extraRepr(): string {
    return `(${this.inputSize} -> ${this.hiddenSize})`;
  }
}
