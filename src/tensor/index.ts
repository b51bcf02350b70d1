export { Tensor, type DType, type AllocOptions, type NestedArray } from './tensor.js';
export { RandomGenerator, RNG } from './random.js';
export * as ops from './ops.js';
