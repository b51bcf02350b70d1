/** Optim methods and learning-rate schedules (BigDL's `optim` package, PyTorch's update rules). */
export {
  OptimMethod, checkHyper, affine,
  type Feval, type LearningRateOptions, type OptimState, type SavedState, type StateValue,
} from './optim-method.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adagrad, type AdagradOptions } from './adagrad.js';
export { Adam, type AdamOptions } from './adam.js';
export { Adamax, type AdamaxOptions } from './adamax.js';
export { Adadelta, type AdadeltaOptions } from './adadelta.js';
export { RMSprop, type RMSpropOptions } from './rmsprop.js';
export { LBFGS, type LBFGSOptions } from './lbfgs.js';
export {
  Default, Step, MultiStep, Exponential, Poly, Plateau, Warmup, SequentialSchedule,
  type LearningRateSchedule, type PlateauOptions,
} from './schedules.js';
