/** bigdl-ts: the public API. */
export { Tensor, RandomGenerator, RNG, ops } from './tensor/index.js';
export type { DType, AllocOptions, NestedArray } from './tensor/index.js';
export { Engine } from './engine/engine.js';
export { backend, getBackend, setBackend, withBackend, nativeUnavailableReason } from './backend/registry.js';
export type { Backend, BackendName } from './backend/backend.js';
