/** bigdl-ts: the public API. */
export { Tensor, RandomGenerator, RNG, ops } from './tensor/index.js';
export type { DType, AllocOptions, NestedArray } from './tensor/index.js';
export { Engine } from './engine/engine.js';
export { backend, getBackend, setBackend, withBackend, nativeUnavailableReason } from './backend/registry.js';
export type { Backend, BackendName } from './backend/backend.js';

// models, layers and criterions: `import { Sequential, Linear, ReLU } from 'bigdl-ts'`
export * from './nn/index.js';
export * as nn from './nn/index.js';
export * as models from './models/index.js';

// training and inference
export {
  OptimMethod, SGD, Adagrad, Adam, Adamax, Adadelta, RMSprop, LBFGS,
  Step, MultiStep, Exponential, Poly, Plateau, Warmup, SequentialSchedule, Default as DefaultSchedule,
  type LearningRateSchedule, type SavedState,
} from './optim/index.js';
export { Optimizer, NonFiniteLossError, type OptimizerConfig, type ValidationReport } from './optim/optimizer.js';
export { Trigger, type TrainingState } from './optim/trigger.js';
export {
  Top1Accuracy, Top5Accuracy, TopKAccuracy, Loss, MAE, HitRatio, NDCG, AUC, type ValidationMethod, type ValidationResult,
} from './optim/validation.js';
export { predict, predictClass, evaluate, type PredictData, type PredictOptions } from './optim/predictor.js';
export { TrainSummary, ValidationSummary } from './summary/index.js';

// the distributed engine: Engine.init({ master: 'local[4]' | 'redis://host:6379' })
export {
  EngineContext, type EngineInitOptions, type TextFileOptions, type CsvFileOptions, type ParquetFileOptions, type SqlOptions, type SqlParams,
} from './engine/context.js';
export { PartitionedDataset, type PartitionInfo } from './engine/dataset.js';
export { shippable, fnRef } from './engine/cluster/ship.js';
export { DistriOptimizer, type DistriOptimizerConfig, type IterationTime, type Clipping } from './engine/distri-optimizer.js';
export type { PredictRecord, DistriPredictOptions } from './engine/distri-predict.js';
export { findCheckpoint, readCheckpoint, type CheckpointState } from './optim/checkpoint.js';
export type { Cluster, BlockStore, TaskContext } from './engine/cluster/types.js';

// data
export * as data from './data/index.js';
export { DataSet, Sample, MiniBatch, SampleToMiniBatch } from './data/index.js';

// model files
export { saveModel, saveModelSync, loadModel, loadModelSync, registerClass } from './serialization/index.js';
