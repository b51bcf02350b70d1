/** Neural-network modules and criterions (BigDL's `nn` package). Class labels are 0-based. */
export { Module, ensureShape, badInput, type Activity, type Parameter, type FlatParameters } from './module.js';
export { Sequential } from './sequential.js';
export { Graph, Input } from './graph.js';
export { ModuleNode } from './node.js';
export { Concat, ConcatTable, ParallelTable, MapTable } from './containers.js';
export {
  JoinTable, SplitTable, SelectTable, FlattenTable, CAddTable, CMulTable, CSubTable, CMaxTable,
} from './tables.js';
export { Identity, Reshape, View, Squeeze, Unsqueeze, Transpose, Select, Narrow, Padding, Replicate } from './shape-layers.js';
export { MulConstant, AddConstant, Sum, Mean, Max, Normalize, MM, MV, Bilinear, type BilinearOptions } from './math-layers.js';
export { Linear, type LinearOptions } from './linear.js';
export {
  Tanh, Sigmoid, Threshold, ReLU, HardTanh, ReLU6, Clamp, LeakyReLU, PReLU, ELU, SoftPlus, SoftMax, LogSoftMax,
  Power, Sqrt, Square, Exp, Log, Abs,
} from './activations.js';
export { Dropout, SpatialDropout2D } from './dropout.js';
export { SpatialConvolution, SpatialFullConvolution, type ConvOptions } from './conv.js';
export { SpatialMaxPooling, SpatialAveragePooling, type AvgPoolOptions } from './pooling.js';
export {
  BatchNormalization, SpatialBatchNormalization, SpatialCrossMapLRN, LayerNormalization, type BatchNormOptions,
} from './normalization.js';
export { TemporalConvolution, TemporalMaxPooling, UpSampling2D } from './temporal.js';
export { LookupTable, type LookupTableOptions } from './lookup-table.js';
export {
  Cell, RnnCell, LSTM, LSTMPeephole, GRU, ConvLSTMPeephole, Recurrent, RecurrentDecoder, BiRecurrent, TimeDistributed,
  type ConvLSTMOptions, type HiddenState, type MergeMode, type RecurrentOptions,
} from './recurrent/index.js';
export { Criterion, ClassNLLCriterion, CrossEntropyCriterion, MSECriterion, type ClassNLLOptions } from './criterion.js';
export {
  AbsCriterion, SmoothL1Criterion, BCECriterion, MultiLabelSoftMarginCriterion, MarginCriterion, CosineEmbeddingCriterion,
  KLDCriterion, TimeDistributedCriterion, ParallelCriterion,
} from './criterions.js';
export {
  Default, Xavier, MsraFiller, Zeros, Ones, ConstInitMethod, RandomNormal, RandomUniform, type InitializationMethod,
} from './init.js';
