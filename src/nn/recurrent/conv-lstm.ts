import { Tensor } from '../../tensor/tensor.js';
import * as ops from '../../tensor/ops.js';
import type { Conv2dOptions } from '../../tensor/dnn.js';
import type { Shape } from '../../tensor/shape.js';
import { Default, type InitializationMethod } from '../init.js';
import type { Parameter } from '../module.js';
import { requirePositive } from './cell.js';
import { LSTMFamily, type LSTMWorkspace } from './lstm.js';

export interface ConvLSTMOptions {
  /** peephole connections (default true, as BigDL's ConvLSTMPeephole) */
  withPeephole?: boolean;
  weightInit?: InitializationMethod;
  biasInit?: InitializationMethod;
}

/**
 * Convolutional LSTM with peepholes (Shi et al. 2015, "Convolutional LSTM Network: A Machine
 * Learning Approach for Precipitation Nowcasting"; BigDL's ConvLSTMPeephole): the LSTM gates of
 * lstm.ts with the input and hidden projections replaced by 2-d convolutions with 'same'
 * padding. Per-step input [batch, inputChannels, H, W]; state [h, c], each
 * [batch, outputChannels, H', W'] with H' = ceil(H / stride) (the input convolution strides,
 * the hidden one does not). In Recurrent the input is [batch, time, inputChannels, H, W].
 *
 * Parameters: weightIH [4*out, in, kernelI, kernelI], weightHH [4*out, out, kernelC, kernelC],
 * bias [4*out] (gates i, f, g, o), and peephole [3, out]: per-channel peephole weights for
 * i, f and o (BigDL's CMul of size [1, out, 1, 1]), broadcast over space.
 */
export class ConvLSTMPeephole extends LSTMFamily {
  readonly weightIH: Parameter;
  readonly weightHH: Parameter;
  readonly bias: Parameter;
  protected readonly peepholeParam: Parameter | null;
  private readonly convI: Conv2dOptions;
  private readonly convH: Conv2dOptions;
  protected get channels(): number {
    return this.outputChannels;
  }

  constructor(readonly inputChannels: number, readonly outputChannels: number, readonly kernelI: number, readonly kernelC: number,
    readonly stride = 1, opts: ConvLSTMOptions = {}) {
    super();
    const args = { inputChannels, outputChannels, kernelI, kernelC, stride };
    for (const [k, v] of Object.entries(args)) requirePositive('ConvLSTMPeephole', k, v);
    if (kernelI % 2 === 0 || kernelC % 2 === 0) {
      throw new RangeError(`ConvLSTMPeephole: kernelI (${kernelI}) and kernelC (${kernelC}) must be odd for 'same' padding`);
    }
    const C = outputChannels;
    this.convI = { stride: [stride, stride], padding: [(kernelI - 1) / 2, (kernelI - 1) / 2] };
    this.convH = { stride: [1, 1], padding: [(kernelC - 1) / 2, (kernelC - 1) / 2] };
    this.weightIH = this.registerParameter('weightIH', Tensor.empty([4 * C, inputChannels, kernelI, kernelI]));
    this.weightHH = this.registerParameter('weightHH', Tensor.empty([4 * C, C, kernelC, kernelC]));
    this.bias = this.registerParameter('bias', Tensor.empty([4 * C]));
    this.peepholeParam = opts.withPeephole === false ? null : this.registerParameter('peephole', Tensor.empty([3, C]));
    this.reset(opts.weightInit, opts.biasInit);
  }

  /** Torch's default (U(-1/sqrt(fanIn), 1/sqrt(fanIn)) with the convolutions' fan-in) unless given. */
  reset(weightInit: InitializationMethod = Default, biasInit: InitializationMethod = Default): this {
    const C = this.outputChannels;
    const fanI = this.inputChannels * this.kernelI * this.kernelI, fanC = C * this.kernelC * this.kernelC;
    weightInit.init(this.weightIH.weight, fanI, 4 * C * this.kernelI * this.kernelI);
    weightInit.init(this.weightHH.weight, fanC, 4 * C * this.kernelC * this.kernelC);
    biasInit.init(this.bias.weight, fanI, 4 * C);
    if (this.peepholeParam) weightInit.init(this.peepholeParam.weight, C, C);
    return this;
  }

  get peephole(): Parameter | null {
    return this.peepholeParam;
  }

  stepInputDesc(): string {
    return `[batch, ${this.inputChannels}, H, W]`;
  }

  acceptsStepInput(shape: Shape): boolean {
    return shape.length === 4 && shape[1] === this.inputChannels && shape.every((s) => s >= 1);
  }

  stateShapeFor(stepShape: Shape): number[] {
    const out = (n: number) => Math.floor((n - 1) / this.stride) + 1;
    return [stepShape[0], this.outputChannels, out(stepShape[2]), out(stepShape[3])];
  }

  private gateShape(ws: LSTMWorkspace, rows: number): number[] {
    const [, C, h, w] = ws.stateShape;
    return [rows, 4 * C, h, w];
  }

  private inputShape(ws: LSTMWorkspace, rows: number): number[] {
    return [rows, ...ws.xShape.slice(1)];
  }

  protected inProjAll(ws: LSTMWorkspace, x: Tensor): void {
    ops.conv2d(x.view(...this.inputShape(ws, ws.N)), this.weightIH.weight, this.bias.weight, this.convI, ws.G.view(...this.gateShape(ws, ws.N)));
  }

  protected inProjStep(ws: LSTMWorkspace, xt: Tensor, gt: Tensor): void {
    const out = ws.buf('convOut', this.gateShape(ws, ws.B));
    ops.conv2d(ws.contiguous(xt, 'xs'), this.weightIH.weight, this.bias.weight, this.convI, out);
    gt.copy_(out);
  }

  protected hidProj(ws: LSTMWorkspace, hp: Tensor, gt: Tensor): void {
    const out = ws.buf('convOut', this.gateShape(ws, ws.B));
    ops.conv2d(ws.contiguous(hp, 'hs'), this.weightHH.weight, null, this.convH, out);
    ops.add(gt, out, 1, gt);
  }

  protected hidGrad(ws: LSTMWorkspace, dgt: Tensor, dhp: Tensor): void {
    const hg = ws.buf('hg', ws.stateShape);
    ops.conv2dBackwardData(ws.contiguous(dgt, 'gs'), this.weightHH.weight, ws.stateShape, this.convH, hg);
    ops.add(dhp, hg, 1, dhp);
  }

  protected inGradAll(ws: LSTMWorkspace, gx: Tensor): void {
    const shape = this.inputShape(ws, ws.N);
    ops.conv2dBackwardData(ws.dG.view(...this.gateShape(ws, ws.N)), this.weightIH.weight, shape, this.convI, gx.view(...shape));
  }

  protected inGradStep(ws: LSTMWorkspace, dgt: Tensor, target: Tensor): void {
    const xg = ws.buf('xg', ws.xShape);
    ops.conv2dBackwardData(ws.contiguous(dgt, 'gs'), this.weightIH.weight, ws.xShape, this.convI, xg);
    ops.add(target, xg, 1, target);
  }

  protected accProjections(ws: LSTMWorkspace, x: Tensor, scale: number): void {
    const dG = ws.dG.view(...this.gateShape(ws, ws.N));
    const gw = ws.buf('gwIH', this.weightIH.weight.shape), gb = ws.buf('gb', [4 * this.outputChannels]);
    ops.conv2dBackwardWeights(x.view(...this.inputShape(ws, ws.N)), dG, this.weightIH.weight.shape, this.convI, gw, gb);
    this.weightIH.gradient.add_(gw, scale);
    this.bias.gradient.add_(gb, scale);
    const gwh = ws.buf('gwHH', this.weightHH.weight.shape);
    const [, C, h, w] = ws.stateShape;
    ops.conv2dBackwardWeights(ws.prevSeq(0).view(ws.N, C, h, w), dG, this.weightHH.weight.shape, this.convH, gwh, false);
    this.weightHH.gradient.add_(gwh, scale);
  }

  protected override extraRepr(): string {
    return `(${this.inputChannels} -> ${this.outputChannels}, kernelI ${this.kernelI}, kernelC ${this.kernelC}, stride ${this.stride}${this.peepholeParam ? '' : ', no peephole'})`;
  }
}
