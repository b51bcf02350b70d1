import type { Module } from './module.js';

/**
 * A node of a Graph: a module and the nodes whose outputs feed it (one input, or a table of
 * inputs in the order given). Created by `module.inputs(...)` or `Input()`.
 */
export class ModuleNode {
  constructor(readonly module: Module<any, any>, readonly prevs: readonly ModuleNode[]) {}
}
