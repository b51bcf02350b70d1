import { Tensor } from '../tensor/tensor.js';
import * as ops from '../tensor/ops.js';
import { Module, type Activity } from './module.js';
import { ModuleNode } from './node.js';

/** The module behind Input(): passes the graph input through unchanged. */
class InputModule extends Module<any, any> {
  updateOutput(input: Activity): Activity {
    this.output = input;
    return input;
  }
  updateGradInput(_input: Activity, gradOutput: Activity): Activity {
    this.gradInput = gradOutput;
    return gradOutput;
  }
}

/** A graph input placeholder. */
export function Input(name?: string): ModuleNode {
  const m = new InputModule();
  if (name) m.setName(name);
  return new ModuleNode(m, []);
}

/** Adds gradient g into the accumulator acc (same structure), returning the accumulator. */
function accumulate(acc: Activity, g: Activity): void {
  if (acc instanceof Tensor) {
    if (!(g instanceof Tensor) || !acc.equalShape(g)) throw new RangeError('Graph: gradients reaching one node disagree in shape');
    ops.add(acc, g, 1, acc);
    return;
  }
  if (!Array.isArray(g) || g.length !== acc.length) throw new RangeError('Graph: gradients reaching one node disagree in structure');
  acc.forEach((a, i) => accumulate(a, g[i]));
}

function cloneActivity(a: Activity): Activity {
  return a instanceof Tensor ? a.clone() : a.map(cloneActivity);
}

function copyInto(dst: Activity, src: Activity): boolean {
  if (dst instanceof Tensor) {
    if (!(src instanceof Tensor) || !dst.equalShape(src)) return false;
    dst.copy_(src);
    return true;
  }
  if (!Array.isArray(src) || src.length !== dst.length) return false;
  return dst.every((d, i) => copyInto(d, src[i]));
}

/**
 * A directed acyclic graph of modules (BigDL's functional Graph API):
 *
 *   const x = Input();
 *   const h = new Tanh().inputs(new Linear(4, 8).inputs(x));
 *   const y = new LogSoftMax().inputs(new Linear(8, 3).inputs(h));
 *   const model = new Graph([x], [y]);
 *
 * Several inputs/outputs are tables, in the order given. A node may feed several others (its
 * gradients are summed). Each module instance may appear in one node only.
 */
export class Graph extends Module<any, any> {
  private readonly order: ModuleNode[];
  private readonly inputNodes: ModuleNode[];
  private readonly outputNodes: ModuleNode[];
  /** how many edges leave each node (plus one per appearance among the outputs) */
  private readonly fanOut = new Map<ModuleNode, number>();
  /** per-node gradient accumulators, allocated on first use and reused */
  private readonly gradBuffers = new Map<ModuleNode, Activity>();
  /** the output and gradInput tables (several outputs/inputs), kept across calls */
  private readonly outputTable: Activity[] = [];
  private readonly gradInputTable: Activity[] = [];

  constructor(inputs: ModuleNode | ModuleNode[], outputs: ModuleNode | ModuleNode[]) {
    super();
    this.inputNodes = Array.isArray(inputs) ? inputs : [inputs];
    this.outputNodes = Array.isArray(outputs) ? outputs : [outputs];
    if (this.inputNodes.length === 0 || this.outputNodes.length === 0) throw new Error('Graph: needs at least one input and one output node');
    for (const n of this.inputNodes) {
      if (!(n.module instanceof InputModule)) throw new Error(`Graph: input nodes must come from Input(), got a ${n.module.getName()} node`);
    }
    this.order = this.topologicalOrder();
    const used = new Set<Module<any, any>>();
    for (const n of this.order) {
      if (used.has(n.module)) throw new Error(`Graph: module ${n.module.getName()} appears in two nodes; use clone() for a separate copy`);
      used.add(n.module);
      if (!(n.module instanceof InputModule)) this.modules.push(n.module);
      for (const p of n.prevs) this.fanOut.set(p, (this.fanOut.get(p) ?? 0) + 1);
    }
    for (const o of this.outputNodes) this.fanOut.set(o, (this.fanOut.get(o) ?? 0) + 1);
  }

  /** Depth-first from the outputs; refuses cycles and inputs that the outputs don't need or that are missing. */
  private topologicalOrder(): ModuleNode[] {
    const order: ModuleNode[] = [];
    const state = new Map<ModuleNode, 'visiting' | 'done'>();
    const visit = (n: ModuleNode): void => {
      const s = state.get(n);
      if (s === 'done') return;
      if (s === 'visiting') throw new Error(`Graph: cycle through ${n.module.getName()}`);
      state.set(n, 'visiting');
      for (const p of n.prevs) visit(p);
      if (n.prevs.length === 0 && !this.inputNodes.includes(n)) {
        throw new Error(`Graph: node ${n.module.getName()} has no inputs and is not among the graph inputs; start every path at an Input()`);
      }
      state.set(n, 'done');
      order.push(n);
    };
    for (const o of this.outputNodes) visit(o);
    for (const i of this.inputNodes) {
      if (!state.has(i)) throw new Error(`Graph: input ${i.module.getName()} does not reach any output`);
    }
    return order;
  }

  private nodeInput(n: ModuleNode): Activity {
    return n.prevs.length === 1 ? n.prevs[0].module.output : n.prevs.map((p) => p.module.output);
  }

  updateOutput(input: Activity): Activity {
    const k = this.inputNodes.length;
    if (k > 1 && (!Array.isArray(input) || input.length !== k)) {
      throw new RangeError(`Graph: expected a table of ${k} inputs, got ${input instanceof Tensor ? 'a tensor' : `a table of ${input.length}`}`);
    }
    this.inputNodes.forEach((n, i) => n.module.forward(k === 1 ? input : (input as Activity[])[i]));
    for (const n of this.order) {
      if (n.prevs.length > 0) n.module.forward(this.nodeInput(n));
    }
    if (this.outputNodes.length === 1) this.output = this.outputNodes[0].module.output;
    else {
      this.outputNodes.forEach((n, i) => { this.outputTable[i] = n.module.output; });
      this.output = this.outputTable;
    }
    return this.output;
  }

  updateGradInput(input: Activity, gradOutput: Activity): Activity {
    return this.backwardPass(input, gradOutput, 0, false);
  }

  override accGradParameters(input: Activity, gradOutput: Activity, scale = 1): void {
    // gradients w.r.t. inputs are needed to reach every module; recompute them along the way
    this.backwardPass(input, gradOutput, scale, true, true);
  }

  override backward(input: Activity, gradOutput: Activity, scale = 1): Activity {
    return this.backwardPass(input, gradOutput, scale, true);
  }

  private backwardPass(_input: Activity, gradOutput: Activity, scale: number, accumulateParams: boolean, paramsOnly = false): Activity {
    const pending = new Map<ModuleNode, Activity>();
    const received = new Map<ModuleNode, number>();
    const give = (n: ModuleNode, g: Activity): void => {
      const count = (received.get(n) ?? 0) + 1;
      received.set(n, count);
      if (this.fanOut.get(n) === 1) {
        pending.set(n, g);
        return;
      }
      if (count === 1) {
        // first of several contributions: copy into this node's own accumulator
        let buf = this.gradBuffers.get(n);
        if (!buf || !copyInto(buf, g)) {
          buf = cloneActivity(g);
          this.gradBuffers.set(n, buf);
        }
        pending.set(n, buf);
      } else {
        accumulate(pending.get(n)!, g);
      }
    };
    const outs = this.outputNodes.length;
    if (outs > 1 && (!Array.isArray(gradOutput) || gradOutput.length !== outs)) {
      throw new RangeError(`Graph: expected a table of ${outs} output gradients`);
    }
    this.outputNodes.forEach((n, i) => give(n, outs === 1 ? gradOutput : (gradOutput as Activity[])[i]));
    for (let i = this.order.length - 1; i >= 0; i--) {
      const n = this.order[i];
      const g = pending.get(n);
      if (g === undefined) continue; // no path to an output gradient
      if (n.prevs.length === 0) continue;
      const inp = this.nodeInput(n);
      let gi: Activity;
      if (paramsOnly) {
        gi = n.module.updateGradInput(inp, g);
        n.module.accGradParameters(inp, g, scale);
      } else if (accumulateParams) {
        gi = n.module.backward(inp, g, scale);
      } else {
        gi = n.module.updateGradInput(inp, g);
      }
      if (n.prevs.length === 1) give(n.prevs[0], gi);
      else {
        if (!Array.isArray(gi) || gi.length !== n.prevs.length) throw new Error(`Graph: ${n.module.getName()} takes ${n.prevs.length} inputs but returned a gradInput that is not a table of ${n.prevs.length}`);
        n.prevs.forEach((p, j) => give(p, (gi as Activity[])[j]));
      }
    }
    const grads = this.inputNodes.map((n) => pending.get(n) ?? zerosLike(n.module.output));
    if (grads.length === 1) this.gradInput = grads[0];
    else {
      grads.forEach((g, i) => { this.gradInputTable[i] = g; });
      this.gradInput = this.gradInputTable;
    }
    return this.gradInput;
  }
}

function zerosLike(a: Activity): Activity {
  return a instanceof Tensor ? Tensor.zeros(a.shape) : a.map(zerosLike);
}
