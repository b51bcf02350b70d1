import { Tensor } from '../../tensor/tensor.js';
import { sameShape, shapeStr } from '../../tensor/shape.js';
import { badInput, Module } from '../module.js';

/**
 * Applies a module to every time step of a batch-first sequence by folding time into the batch:
 * [B, T, ...] is viewed as [B*T, ...] (no copy for contiguous input), run through the module in
 * one call, and its output viewed back as [B, T, ...]. `new TimeDistributed(new Linear(128, 10))`.
 */
export class TimeDistributed extends Module {
  private outView: { src: Tensor; view: Tensor } | null = null;
  private gradView: { src: Tensor; view: Tensor } | null = null;
  private scratch = new Map<string, Tensor>();

  constructor(readonly module: Module) {
    super();
    if (!(module instanceof Module)) throw new TypeError('TimeDistributed: expected a module');
    this.modules.push(module);
  }

  /** [B, T, ...] -> [B*T, ...] (a view, or a copy into a reused buffer when not contiguous) */
  private fold(x: Tensor, name: string): Tensor {
    const shape = [x.shape[0] * x.shape[1], ...x.shape.slice(2)];
    if (x.isContiguous()) return x.view(...shape);
    let b = this.scratch.get(name);
    if (!b || !sameShape(b.shape, x.shape)) this.scratch.set(name, (b = Tensor.empty(x.shape)));
    return b.copy_(x).view(...shape);
  }

  /** [B*T, ...] -> [B, T, ...], returning the same view object while `y` and its shape stay the same. */
  private unfold(y: Tensor, B: number, T: number, cached: { src: Tensor; view: Tensor } | null, what: string): { src: Tensor; view: Tensor } {
    if (!(y instanceof Tensor) || y.ndim < 1 || y.shape[0] !== B * T) {
      throw new RangeError(`${this.getName()}: ${this.module.getName()} returned ${y instanceof Tensor ? shapeStr(y.shape) : 'a table'} as ${what}; expected a tensor with ${B * T} (batch x time) rows`);
    }
    const shape = [B, T, ...y.shape.slice(1)];
    if (cached && cached.src === y && sameShape(cached.view.shape, shape)) return cached;
    return { src: y, view: y.reshape(...shape) };
  }

  updateOutput(input: Tensor): Tensor {
    if (!(input instanceof Tensor) || input.ndim < 2) badInput(this, '[batch, time, ...]', input);
    const y = this.module.forward(this.fold(input, 'input')) as Tensor;
    this.outView = this.unfold(y, input.shape[0], input.shape[1], this.outView, 'output');
    this.output = this.outView.view;
    return this.output;
  }

  private checkGrad(gradOutput: Tensor): void {
    if (!(gradOutput instanceof Tensor) || !sameShape(gradOutput.shape, this.output.shape)) {
      throw new RangeError(`${this.getName()}: gradOutput ${gradOutput instanceof Tensor ? shapeStr(gradOutput.shape) : typeof gradOutput} does not match the output ${shapeStr(this.output.shape)}`);
    }
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    this.checkGrad(gradOutput);
    const gi = this.module.updateGradInput(this.fold(input, 'input'), this.fold(gradOutput, 'gradOutput')) as Tensor;
    this.gradView = this.unfold(gi, input.shape[0], input.shape[1], this.gradView, 'gradInput');
    this.gradInput = this.gradView.view;
    return this.gradInput;
  }

  override accGradParameters(input: Tensor, gradOutput: Tensor, scale = 1): void {
    this.checkGrad(gradOutput);
    this.module.accGradParameters(this.fold(input, 'input'), this.fold(gradOutput, 'gradOutput'), scale);
  }
}
