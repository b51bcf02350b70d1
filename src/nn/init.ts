import { RNG, type RandomGenerator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * Weight initialisers, after BigDL's InitializationMethod. fanIn/fanOut are supplied by the
 * layer (Linear: inputSize/outputSize; convolution: C/groups*KH*KW and OC/groups*KH*KW).
 */
export interface InitializationMethod {
  readonly name: string;
  init(t: Tensor, fanIn: number, fanOut: number, rng?: RandomGenerator): void;
}

function uniform(t: Tensor, low: number, high: number, rng: RandomGenerator): void {
  if (!t.isContiguous()) throw new Error('initializers need a contiguous tensor');
  t.uniform_(low, high, rng);
}

function normal(t: Tensor, mean: number, std: number, rng: RandomGenerator): void {
  if (!t.isContiguous()) throw new Error('initializers need a contiguous tensor');
  t.normal_(mean, std, rng);
}

/** Torch's default: U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
export const Default: InitializationMethod = {
  name: 'Default',
  init(t, fanIn, _fanOut, rng = RNG) {
    const b = 1 / Math.sqrt(Math.max(fanIn, 1));
    uniform(t, -b, b, rng);
  },
};

/** Glorot/Xavier uniform: U(-sqrt(6/(fanIn+fanOut)), +...). */
export const Xavier: InitializationMethod = {
  name: 'Xavier',
  init(t, fanIn, fanOut, rng = RNG) {
    const b = Math.sqrt(6 / Math.max(fanIn + fanOut, 1));
    uniform(t, -b, b, rng);
  },
};

/** He/MSRA: N(0, sqrt(2/fanIn)) (BigDL's MsraFiller with varianceNormAverage = false). */
export const MsraFiller: InitializationMethod = {
  name: 'MsraFiller',
  init(t, fanIn, _fanOut, rng = RNG) {
    const std = Math.sqrt(2 / Math.max(fanIn, 1));
    normal(t, 0, std, rng);
  },
};

export const Zeros: InitializationMethod = { name: 'Zeros', init: (t) => void t.fill_(0) };
export const Ones: InitializationMethod = { name: 'Ones', init: (t) => void t.fill_(1) };

export function ConstInitMethod(value: number): InitializationMethod {
  return { name: `ConstInitMethod(${value})`, init: (t) => void t.fill_(value) };
}

export function RandomNormal(mean = 0, std = 1): InitializationMethod {
  return { name: `RandomNormal(${mean}, ${std})`, init: (t, _i, _o, rng = RNG) => normal(t, mean, std, rng) };
}

export function RandomUniform(low: number, high: number): InitializationMethod {
  return { name: `RandomUniform(${low}, ${high})`, init: (t, _i, _o, rng = RNG) => uniform(t, low, high, rng) };
}
