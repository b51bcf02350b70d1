/** Every tensor op as a function, most with an optional `out` tensor for allocation-free use. */
export * from './elementwise.js';
export * from './reduce.js';
export * from './linalg.js';
export * from './softmax.js';
export * from './indexing.js';
export * from './dnn.js';
