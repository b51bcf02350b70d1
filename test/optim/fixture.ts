// Loads test/fixtures/torch-optim/<name>.json (made by scripts/gen-torch-optim-fixtures.py) and
// builds the optim method a fixture describes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/package-root.js';
import {
  Adadelta, Adagrad, Adam, Adamax, Exponential, LBFGS, MultiStep, Poly, RMSprop, SGD, Step,
  type LearningRateSchedule, type OptimMethod,
} from '../../src/optim/index.js';

export interface StepFixture {
  name: string;
  method: string;
  options: Record<string, unknown>;
  schedule: { kind: string; args: unknown[] } | null;
  weights0: number[];
  grads: number[][];
  weights: number[][];
  lrs: number[];
}

export interface LbfgsFixture {
  name: string;
  options: Record<string, unknown>;
  problem: { kind: 'quadratic'; A: number[][]; b: number[] } | { kind: 'rosenbrock' };
  weights0: number[];
  weights: number[][];
  losses: number[];
  funcEvals: number[];
  nIter: number[];
}

export function optimFixture<T = StepFixture>(name: string): T {
  return JSON.parse(readFileSync(join(packageRoot(), 'test', 'fixtures', 'torch-optim', `${name}.json`), 'utf8')) as T;
}

export function makeSchedule(spec: { kind: string; args: unknown[] }): LearningRateSchedule {
  const a = spec.args as any[];
  switch (spec.kind) {
    case 'Step': return new Step(a[0], a[1]);
    case 'MultiStep': return new MultiStep(a[0], a[1]);
    case 'Exponential': return new Exponential(a[0], a[1], a[2]);
    case 'Poly': return new Poly(a[0], a[1]);
    default: throw new Error(`fixture schedule ${spec.kind} unknown`);
  }
}

export function makeMethod(method: string, options: Record<string, unknown>, schedule?: LearningRateSchedule): OptimMethod {
  const o = { ...options, learningRateSchedule: schedule } as any;
  switch (method) {
    case 'SGD': return new SGD(o);
    case 'Adagrad': return new Adagrad(o);
    case 'Adam': return new Adam(o);
    case 'Adamax': return new Adamax(o);
    case 'Adadelta': return new Adadelta(o);
    case 'RMSprop': return new RMSprop(o);
    case 'LBFGS': return new LBFGS(o);
    default: throw new Error(`fixture method ${method} unknown`);
  }
}
