import type { Tensor } from '../tensor/tensor.js';
import type { Activity } from './module.js';
import { Module } from './module.js';

/**
 * Runs its modules one after another; backward runs them in reverse. The type parameters only
 * describe the ends (tensor in, tensor out by default); modules in between may pass tables.
 */
export class Sequential<In extends Activity = Tensor, Out extends Activity = Tensor> extends Module<In, Out> {
  add(module: Module<any, any>): this {
    this.modules.push(module);
    return this;
  }

  get length(): number {
    return this.modules.length;
  }

  get(i: number): Module<any, any> {
    const m = this.modules[i < 0 ? this.modules.length + i : i];
    if (!m) throw new RangeError(`Sequential.get(${i}): there are ${this.modules.length} modules`);
    return m;
  }

  updateOutput(input: In): Out {
    if (this.modules.length === 0) throw new Error(`${this.getName()}: empty Sequential: add modules before forward`);
    let x: Activity = input;
    for (const m of this.modules) x = m.forward(x);
    this.output = x as Out;
    return this.output;
  }

  updateGradInput(input: In, gradOutput: Out): In {
    let g: Activity = gradOutput;
    for (let i = this.modules.length - 1; i >= 0; i--) {
      g = this.modules[i].updateGradInput(i === 0 ? input : this.modules[i - 1].output, g);
    }
    this.gradInput = g as In;
    return this.gradInput;
  }

  override accGradParameters(input: In, gradOutput: Out, scale = 1): void {
    let g: Activity = gradOutput;
    for (let i = this.modules.length - 1; i >= 0; i--) {
      const m = this.modules[i];
      const inp = i === 0 ? input : this.modules[i - 1].output;
      m.accGradParameters(inp, g, scale);
      g = m.gradInput;
    }
  }

  /** One pass that computes gradInput and accumulates gradients, module by module. */
  override backward(input: In, gradOutput: Out, scale = 1): In {
    let g: Activity = gradOutput;
    for (let i = this.modules.length - 1; i >= 0; i--) {
      g = this.modules[i].backward(i === 0 ? input : this.modules[i - 1].output, g, scale);
    }
    this.gradInput = g as In;
    return this.gradInput;
  }
}
