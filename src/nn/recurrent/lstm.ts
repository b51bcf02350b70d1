import { backend } from '../../backend/registry.js';
import { Tensor } from '../../tensor/tensor.js';
import * as ops from '../../tensor/ops.js';
import type { Shape } from '../../tensor/shape.js';
import { Default, type InitializationMethod } from '../init.js';
import type { Parameter } from '../module.js';
import { Cell, CellWorkspace, requirePositive, type RunMode } from './cell.js';
import { acceptsDenseStep, denseStateShape, denseStepInputDesc, initDenseGates } from './dense-cell.js';

/**
 * The LSTM family: LSTM, LSTMPeephole and (in conv-lstm.ts) ConvLSTMPeephole share the gate
 * arithmetic here and differ in how inputs and hidden states are projected (GEMM or convolution).
 *
 * Gates in PyTorch's order i, f, g, o along dim 1 of the projections:
 *   i = σ(Wi·x + Ui·h + pi∘c_prev + bi)   f = σ(Wf·x + Uf·h + pf∘c_prev + bf)
 *   g = tanh(Wg·x + Ug·h + bg)            c = f∘c_prev + i∘g
 *   o = σ(Wo·x + Uo·h + po∘c + bo)        h = o∘tanh(c)
 * (the p terms only with peepholes, as in Gers & Schmidhuber 2000 and BigDL's LSTMPeephole).
 */

/** Views of one step's gate block [B, 4C, ...]: each gate is a narrow view along dim 1. */
export interface GateViews {
  all: Tensor;
  /** i and f together, [B, 2C, ...] */
  if: Tensor;
  /** i and f as [B, 2, C, ...] (peephole broadcasting) */
  ifPair: Tensor;
  i: Tensor;
  f: Tensor;
  g: Tensor;
  o: Tensor;
}

/**
 * The row stride of t [B, ...] when every row (the dims after the first) is contiguous, else -1:
 * the layout the fused gate kernels (backend lstmGatesForward/Backward) take.
 */
function rowStride(t: Tensor): number {
  let expect = 1;
  for (let d = t.ndim - 1; d >= 1; d--) {
    if (t.shape[d] !== 1 && t.strides[d] !== expect) return -1;
    expect *= t.shape[d];
  }
  return t.shape[0] === 1 ? expect : t.strides[0];
}

/** All of these [B, ...] float32 views have contiguous rows. */
const rowsContiguous = (ts: readonly Tensor[]): boolean => ts.every((t) => t.dtype === 'float32' && rowStride(t) >= 0);

const f32 = (t: Tensor): Float32Array => t.data as Float32Array;

function gateViews(gt: Tensor, C: number): GateViews {
  const B = gt.shape[0], sp = gt.shape.slice(2);
  const ifv = gt.narrow(1, 0, 2 * C);
  return {
    all: gt, if: ifv, ifPair: ifv.view(B, 2, C, ...sp),
    i: gt.narrow(1, 0, C), f: gt.narrow(1, C, C), g: gt.narrow(1, 2 * C, C), o: gt.narrow(1, 3 * C, C),
  };
}

export class LSTMWorkspace extends CellWorkspace {
  /** gate pre-activations [B, T, 4C, ...], turned into activations in place */
  readonly G: Tensor;
  /** gradients with respect to the gate pre-activations */
  readonly dG: Tensor;
  /** tanh(c) [B, T, C, ...] */
  readonly TC: Tensor;
  readonly gates: GateViews[] = [];
  readonly dgates: GateViews[] = [];
  readonly tc: Tensor[] = [];
  readonly tmp: Tensor;
  /** [B, 2, C, ...] scratch for the peephole terms of i and f */
  readonly tmp2: Tensor;
  /** per-call views of the peephole weights, broadcastable against [.., C, ...] */
  pIF: Tensor | null = null;
  pO: Tensor | null = null;

  constructor(mode: RunMode, T: number, xShape: Shape, stateShape: Shape, peephole: boolean) {
    super(mode, T, xShape, stateShape, 2);
    const [B, C, ...sp] = stateShape;
    this.G = Tensor.zeros([B, T, 4 * C, ...sp]);
    this.dG = Tensor.zeros([B, T, 4 * C, ...sp]);
    this.TC = Tensor.zeros([B, T, C, ...sp]);
    for (let t = 0; t < T; t++) {
      this.gates.push(gateViews(this.G.select(1, t), C));
      this.dgates.push(gateViews(this.dG.select(1, t), C));
      this.tc.push(this.TC.select(1, t));
    }
    this.tmp = Tensor.zeros(stateShape);
    this.tmp2 = peephole ? Tensor.zeros([B, 2, C, ...sp]) : Tensor.empty([0]);
  }
}

export abstract class LSTMFamily extends Cell<LSTMWorkspace> {
  readonly nStates = 2;
  /** channels of the hidden state (hidden size, or output planes) */
  protected abstract readonly channels: number;
  protected abstract readonly peepholeParam: Parameter | null;

  // ---- projections (dense: GEMMs; convolutional: convolutions) ------------------------------
  /** G [B, T, 4C, ...] = projection of x [B, T, ...in] (contiguous) including the biases. */
  protected abstract inProjAll(ws: LSTMWorkspace, x: Tensor): void;
  /** gt = projection of xt including the biases. */
  protected abstract inProjStep(ws: LSTMWorkspace, xt: Tensor, gt: Tensor): void;
  /** gt += hidden projection of hp. */
  protected abstract hidProj(ws: LSTMWorkspace, hp: Tensor, gt: Tensor): void;
  /** dhp += gradient of the hidden projection for gate gradients dgt. */
  protected abstract hidGrad(ws: LSTMWorkspace, dgt: Tensor, dhp: Tensor): void;
  /** gx [B, T, ...in] = input gradient of all steps, from ws.dG. */
  protected abstract inGradAll(ws: LSTMWorkspace, gx: Tensor): void;
  /** target += input gradient of one step. */
  protected abstract inGradStep(ws: LSTMWorkspace, dgt: Tensor, target: Tensor): void;
  /** Adds scale * the gradients of the projection weights and biases. */
  protected abstract accProjections(ws: LSTMWorkspace, x: Tensor, scale: number): void;

  protected createWorkspace(mode: RunMode, T: number, xShape: Shape, stateShape: Shape): LSTMWorkspace {
    return new LSTMWorkspace(mode, T, xShape, stateShape, this.peepholeParam !== null);
  }

  /** Peephole weights [3, C] (rows i, f, o) as views broadcastable against [B, (2,) C, ...]. */
  private peepViews(ws: LSTMWorkspace): void {
    if (!this.peepholeParam) return;
    const P = this.peepholeParam.weight, C = this.channels;
    const tail = ws.stateShape.slice(2).map(() => 1);
    ws.pIF = P.narrow(0, 0, 2).view(2, C, ...tail);
    ws.pO = P.select(0, 2).view(C, ...tail);
  }

  protected override beginForward(ws: LSTMWorkspace): void {
    this.peepViews(ws);
  }

  protected override beginBackward(ws: LSTMWorkspace): void {
    this.peepViews(ws);
  }

  protected projectAll(ws: LSTMWorkspace, x: Tensor): void {
    this.inProjAll(ws, x);
  }

  protected projectStep(ws: LSTMWorkspace, t: number, xt: Tensor): void {
    this.inProjStep(ws, xt, ws.gates[t].all);
  }

  protected forwardStep(ws: LSTMWorkspace, t: number, prev: readonly Tensor[], cur: readonly Tensor[]): void {
    const [hp, cp] = prev, [h, c] = cur;
    const g = ws.gates[t], tc = ws.tc[t], tmp = ws.tmp;
    if (!ws.zeroStart(t)) this.hidProj(ws, hp, g.all);
    if (!ws.pIF && !ws.pO && rowsContiguous([g.all, cp, c, tc, h])) {
      // one fused kernel instead of ten elementwise calls
      const B = g.all.shape[0], n = c.numel / Math.max(B, 1);
      backend().lstmGatesForward(B, n, f32(g.all), g.all.offset, rowStride(g.all), f32(cp), cp.offset, rowStride(cp),
        f32(c), c.offset, rowStride(c), f32(tc), tc.offset, rowStride(tc), f32(h), h.offset, rowStride(h));
      return;
    }
    if (ws.pIF) {
      ops.mul(cp.unsqueeze(1), ws.pIF, ws.tmp2);
      ops.add(g.ifPair, ws.tmp2, 1, g.ifPair);
    }
    ops.sigmoid(g.if, g.if);
    ops.tanh(g.g, g.g);
    ops.mul(g.f, cp, c);
    ops.mul(g.i, g.g, tmp);
    ops.add(c, tmp, 1, c);
    if (ws.pO) {
      ops.mul(c, ws.pO, tmp);
      ops.add(g.o, tmp, 1, g.o);
    }
    ops.sigmoid(g.o, g.o);
    ops.tanh(c, tc);
    ops.mul(g.o, tc, h);
  }

  protected backwardStep(ws: LSTMWorkspace, t: number, prev: readonly Tensor[], _cur: readonly Tensor[], grad: readonly Tensor[],
    gradPrev: readonly Tensor[]): void {
    const cp = prev[1], [dh, dc] = grad, [dhp, dcp] = gradPrev;
    const g = ws.gates[t], d = ws.dgates[t], tc = ws.tc[t], tmp = ws.tmp;
    if (!ws.pIF && !ws.pO && rowsContiguous([g.all, tc, cp, dh, dc, d.all, dcp])) {
      const B = g.all.shape[0], n = dc.numel / Math.max(B, 1);
      backend().lstmGatesBackward(B, n, f32(g.all), g.all.offset, rowStride(g.all), f32(tc), tc.offset, rowStride(tc),
        f32(cp), cp.offset, rowStride(cp), f32(dh), dh.offset, rowStride(dh), f32(dc), dc.offset, rowStride(dc),
        f32(d.all), d.all.offset, rowStride(d.all), f32(dcp), dcp.offset, rowStride(dcp));
      this.hidGrad(ws, d.all, dhp);
      return;
    }
    // o: h = o * tanh(c)
    ops.mul(dh, tc, tmp);
    ops.sigmoidBackward(g.o, tmp, d.o);
    // c: through tanh(c), and through o's peephole
    ops.mul(dh, g.o, tmp);
    ops.tanhBackward(tc, tmp, tmp);
    ops.add(dc, tmp, 1, dc);
    if (ws.pO) {
      ops.mul(d.o, ws.pO, tmp);
      ops.add(dc, tmp, 1, dc);
    }
    // c = f*c_prev + i*g
    ops.mul(dc, g.g, tmp);
    ops.sigmoidBackward(g.i, tmp, d.i);
    ops.mul(dc, cp, tmp);
    ops.sigmoidBackward(g.f, tmp, d.f);
    ops.mul(dc, g.i, tmp);
    ops.tanhBackward(g.g, tmp, d.g);
    ops.mul(dc, g.f, dcp);
    if (ws.pIF) {
      ops.mul(d.ifPair, ws.pIF, ws.tmp2);
      ops.add(ws.tmp2.select(1, 0), ws.tmp2.select(1, 1), 1, tmp);
      ops.add(dcp, tmp, 1, dcp);
    }
    this.hidGrad(ws, d.all, dhp);
  }

  protected gradInputAll(ws: LSTMWorkspace, gx: Tensor): void {
    this.inGradAll(ws, gx);
  }

  protected gradInputStep(ws: LSTMWorkspace, t: number, target: Tensor): void {
    this.inGradStep(ws, ws.dgates[t].all, target);
  }

  protected accGrad(ws: LSTMWorkspace, x: Tensor, scale: number): void {
    this.accProjections(ws, x, scale);
    if (!this.peepholeParam) return;
    // dp_{i,f} = Σ d(i,f) ∘ c_prev and dp_o = Σ do ∘ c over batch, time (and space)
    const [B, C, ...sp] = ws.stateShape, T = ws.T, S = sp.reduce((a, b) => a * b, 1);
    const gP = this.peepholeParam.gradient;
    const prodIF = ws.buf('peepIF', [B, T, 2, C, ...sp]);
    ops.mul(ws.dG.narrow(2, 0, 2 * C).view(B, T, 2, C, ...sp), ws.prevSeq(1).unsqueeze(2), prodIF);
    this.sumInto(ws, prodIF, 2 * C, S, gP.narrow(0, 0, 2).view(2 * C), scale);
    const prodO = ws.buf('peepO', [B, T, C, ...sp]);
    ops.mul(ws.dG.narrow(2, 3 * C, C), ws.states[1], prodO);
    this.sumInto(ws, prodO, C, S, gP.select(0, 2), scale);
  }

  /** target [R] += scale * m summed over everything but its R channels (m: [N, R, S] contiguous). */
  private sumInto(ws: LSTMWorkspace, m: Tensor, R: number, S: number, target: Tensor, scale: number): void {
    const row = ws.buf(`peepRow${R}`, [1, R * S]);
    ops.mm(ws.onesRow(ws.N), m.view(ws.N, R * S), row);
    let s = row.view(R * S);
    if (S > 1) s = ops.sum(row.view(R, S), 1, false, ws.buf(`peepSum${R}`, [R]));
    target.add_(s, scale);
  }
}

/** Dense LSTM projections: one GEMM for all input steps, one per step for the hidden state. */
abstract class DenseLSTM extends LSTMFamily {
  readonly weightIH: Parameter;
  readonly weightHH: Parameter;
  readonly biasIH: Parameter;
  readonly biasHH: Parameter;
  protected readonly peepholeParam: Parameter | null;
  protected get channels(): number {
    return this.hiddenSize;
  }

  constructor(readonly inputSize: number, readonly hiddenSize: number, peephole: boolean) {
    super();
    const name = peephole ? 'LSTMPeephole' : 'LSTM';
    requirePositive(name, 'inputSize', inputSize);
    requirePositive(name, 'hiddenSize', hiddenSize);
    this.weightIH = this.registerParameter('weightIH', Tensor.empty([4 * hiddenSize, inputSize]));
    this.weightHH = this.registerParameter('weightHH', Tensor.empty([4 * hiddenSize, hiddenSize]));
    this.biasIH = this.registerParameter('biasIH', Tensor.empty([4 * hiddenSize]));
    this.biasHH = this.registerParameter('biasHH', Tensor.empty([4 * hiddenSize]));
    this.peepholeParam = peephole ? this.registerParameter('peephole', Tensor.empty([3, hiddenSize])) : null;
    this.reset();
  }

  /** PyTorch's initialisation: every parameter U(-1/sqrt(hiddenSize), 1/sqrt(hiddenSize)) unless given. */
  reset(weightInit: InitializationMethod = Default, biasInit: InitializationMethod = Default): this {
    initDenseGates(this, this.hiddenSize, 4, weightInit, biasInit);
    if (this.peepholeParam) weightInit.init(this.peepholeParam.weight, this.hiddenSize, this.hiddenSize);
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

  private biasSum(ws: LSTMWorkspace): Tensor {
    return ws.buf('biasSum', [4 * this.hiddenSize]);
  }

  protected override beginForward(ws: LSTMWorkspace): void {
    super.beginForward(ws);
    ops.add(this.biasIH.weight, this.biasHH.weight, 1, this.biasSum(ws));
  }

  protected inProjAll(ws: LSTMWorkspace, x: Tensor): void {
    ops.addmm(this.biasSum(ws), x.view(ws.N, this.inputSize), this.weightIH.weight.t(), {}, ws.G.view(ws.N, 4 * this.hiddenSize));
  }

  protected inProjStep(ws: LSTMWorkspace, xt: Tensor, gt: Tensor): void {
    ops.addmm(this.biasSum(ws), xt, this.weightIH.weight.t(), {}, gt);
  }

  protected hidProj(_ws: LSTMWorkspace, hp: Tensor, gt: Tensor): void {
    ops.addmm(gt, hp, this.weightHH.weight.t(), {}, gt);
  }

  protected hidGrad(_ws: LSTMWorkspace, dgt: Tensor, dhp: Tensor): void {
    ops.addmm(dhp, dgt, this.weightHH.weight, {}, dhp);
  }

  protected inGradAll(ws: LSTMWorkspace, gx: Tensor): void {
    ops.mm(ws.dG.view(ws.N, 4 * this.hiddenSize), this.weightIH.weight, gx.view(ws.N, this.inputSize));
  }

  protected inGradStep(_ws: LSTMWorkspace, dgt: Tensor, target: Tensor): void {
    ops.addmm(target, dgt, this.weightIH.weight, {}, target);
  }

  protected accProjections(ws: LSTMWorkspace, x: Tensor, scale: number): void {
    accDense(ws, ws.dG, x, ws.prevSeq(0), this.weightIH, this.weightHH, scale);
    const db = ws.buf('db', [1, 4 * this.hiddenSize]);
    ops.mm(ws.onesRow(ws.N), ws.dG.view(ws.N, 4 * this.hiddenSize), db);
    const dbv = db.view(4 * this.hiddenSize);
    this.biasIH.gradient.add_(dbv, scale);
    this.biasHH.gradient.add_(dbv, scale);
  }

  protected override extraRepr(): string {
    return `(${this.inputSize} -> ${this.hiddenSize})`;
  }
}

/**
 * dWih += scale * dGIᵀ·X and dWhh += scale * dGHᵀ·Hprev, one GEMM each over all batch*time rows
 * (dG*: [B, T, G], X: [B, T, in], Hprev: [B, T, H], all contiguous).
 */
export function accDense(ws: CellWorkspace, dG: Tensor, x: Tensor, hPrev: Tensor, wIH: Parameter, wHH: Parameter, scale: number,
  dGH: Tensor = dG): void {
  const N = ws.N;
  const gi = wIH.gradient, gh = wHH.gradient;
  ops.addmm(gi, dG.view(N, dG.numel / N).t(), x.view(N, x.numel / N), { alpha: scale, beta: 1 }, gi);
  ops.addmm(gh, dGH.view(N, dGH.numel / N).t(), hPrev.view(N, hPrev.numel / N), { alpha: scale, beta: 1 }, gh);
}

/**
 * Long short-term memory cell in PyTorch's layout: weightIH [4H, in], weightHH [4H, H], biasIH
 * and biasHH [4H], gates i, f, g, o. Use inside Recurrent: `new Recurrent().add(new LSTM(10, 20))`.
 * State: [h, c].
 */
export class LSTM extends DenseLSTM {
  constructor(inputSize: number, hiddenSize: number) {
    super(inputSize, hiddenSize, false);
  }
}

/**
 * LSTM with peephole connections (BigDL's LSTMPeephole): the input and forget gates also see
 * c_{t-1}, the output gate sees c_t, through per-unit weights `peephole` [3, H] (rows i, f, o).
 * Other parameters as in LSTM.
 */
export class LSTMPeephole extends DenseLSTM {
  constructor(inputSize: number, hiddenSize: number) {
    super(inputSize, hiddenSize, true);
  }

  get peephole(): Parameter {
    return this.peepholeParam!;
  }
}
