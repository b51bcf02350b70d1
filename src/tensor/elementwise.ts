import { BinaryOp, UnaryOp } from '../backend/backend.js';
import { backend } from '../backend/registry.js';
import { outputFor, requireFloat } from './checks.js';
import { broadcastShapes, broadcastStrides } from './shape.js';
import { Tensor } from './tensor.js';

/**
 * Elementwise ops with broadcasting. Each takes an optional `out` (which may be one of the
 * inputs, for in-place updates) and returns it.
 */

export function unary(op: string, code: UnaryOp, x: Tensor, a = 0, b = 0, out?: Tensor): Tensor {
  requireFloat(op, x);
  const o = outputFor(op, x.shape, out);
  backend().unary(code, x.shape, x.data as Float32Array, x.offset, x.strides, o.data as Float32Array, o.offset, o.strides, a, b);
  return o;
}

export function binary(op: string, code: BinaryOp, x: Tensor, y: Tensor, alpha = 1, out?: Tensor): Tensor {
  requireFloat(op, x, y);
  const shape = broadcastShapes(op, x.shape, y.shape);
  const o = outputFor(op, shape, out);
  backend().binary(
    code, shape,
    x.data as Float32Array, x.offset, broadcastStrides(op, x.shape, x.strides, shape),
    y.data as Float32Array, y.offset, broadcastStrides(op, y.shape, y.strides, shape),
    o.data as Float32Array, o.offset, o.strides, alpha,
  );
  return o;
}

export function fillInto(t: Tensor, value: number): void {
  unary('fill_', UnaryOp.Fill, t, value, 0, t);
}

function scalarCheck(op: string, v: number): void {
  if (typeof v !== 'number') throw new TypeError(`${op}: expected a tensor or a number, got ${typeof v}`);
}

/** x + alpha*y */
export function add(x: Tensor, y: Tensor | number, alpha = 1, out?: Tensor): Tensor {
  if (y instanceof Tensor) return binary('add', BinaryOp.Add, x, y, alpha, out);
  scalarCheck('add', y);
  return unary('add', UnaryOp.Affine, x, 1, alpha * y, out);
}

/** x - alpha*y */
export function sub(x: Tensor, y: Tensor | number, alpha = 1, out?: Tensor): Tensor {
  if (y instanceof Tensor) return binary('sub', BinaryOp.Sub, x, y, alpha, out);
  scalarCheck('sub', y);
  return unary('sub', UnaryOp.Affine, x, 1, -alpha * y, out);
}

export function mul(x: Tensor, y: Tensor | number, out?: Tensor): Tensor {
  if (y instanceof Tensor) return binary('mul', BinaryOp.Mul, x, y, 1, out);
  scalarCheck('mul', y);
  return unary('mul', UnaryOp.Affine, x, y, 0, out);
}

export function div(x: Tensor, y: Tensor | number, out?: Tensor): Tensor {
  if (y instanceof Tensor) return binary('div', BinaryOp.Div, x, y, 1, out);
  scalarCheck('div', y);
  return unary('div', UnaryOp.Affine, x, 1 / y, 0, out);
}

/** a*x + b*y is `axpby(x, y, a)` with y pre-scaled; here: out = a*x + y */
export function axpy(a: number, x: Tensor, y: Tensor, out?: Tensor): Tensor {
  return binary('axpy', BinaryOp.Axpby, x, y, a, out);
}

export const maximum = (x: Tensor, y: Tensor, out?: Tensor): Tensor => binary('maximum', BinaryOp.Max, x, y, 1, out);
export const minimum = (x: Tensor, y: Tensor, out?: Tensor): Tensor => binary('minimum', BinaryOp.Min, x, y, 1, out);
export const eq = (x: Tensor, y: Tensor, out?: Tensor): Tensor => binary('eq', BinaryOp.Eq, x, y, 1, out);
export const gt = (x: Tensor, y: Tensor, out?: Tensor): Tensor => binary('gt', BinaryOp.Gt, x, y, 1, out);
export const lt = (x: Tensor, y: Tensor, out?: Tensor): Tensor => binary('lt', BinaryOp.Lt, x, y, 1, out);

export function pow(x: Tensor, e: Tensor | number, out?: Tensor): Tensor {
  if (e instanceof Tensor) return binary('pow', BinaryOp.Pow, x, e, 1, out);
  scalarCheck('pow', e);
  return unary('pow', UnaryOp.Pow, x, e, 0, out);
}

export const neg = (x: Tensor, out?: Tensor): Tensor => unary('neg', UnaryOp.Neg, x, 0, 0, out);
export const abs = (x: Tensor, out?: Tensor): Tensor => unary('abs', UnaryOp.Abs, x, 0, 0, out);
export const exp = (x: Tensor, out?: Tensor): Tensor => unary('exp', UnaryOp.Exp, x, 0, 0, out);
export const log = (x: Tensor, out?: Tensor): Tensor => unary('log', UnaryOp.Log, x, 0, 0, out);
export const log1p = (x: Tensor, out?: Tensor): Tensor => unary('log1p', UnaryOp.Log1p, x, 0, 0, out);
export const sqrt = (x: Tensor, out?: Tensor): Tensor => unary('sqrt', UnaryOp.Sqrt, x, 0, 0, out);
export const rsqrt = (x: Tensor, out?: Tensor): Tensor => unary('rsqrt', UnaryOp.Rsqrt, x, 0, 0, out);
export const square = (x: Tensor, out?: Tensor): Tensor => unary('square', UnaryOp.Square, x, 0, 0, out);
export const reciprocal = (x: Tensor, out?: Tensor): Tensor => unary('reciprocal', UnaryOp.Reciprocal, x, 0, 0, out);
export const sign = (x: Tensor, out?: Tensor): Tensor => unary('sign', UnaryOp.Sign, x, 0, 0, out);
export const tanh = (x: Tensor, out?: Tensor): Tensor => unary('tanh', UnaryOp.Tanh, x, 0, 0, out);
export const sigmoid = (x: Tensor, out?: Tensor): Tensor => unary('sigmoid', UnaryOp.Sigmoid, x, 0, 0, out);
export const relu = (x: Tensor, out?: Tensor): Tensor => unary('relu', UnaryOp.Relu, x, 0, 0, out);
export const leakyRelu = (x: Tensor, slope: number, out?: Tensor): Tensor => unary('leakyRelu', UnaryOp.LeakyRelu, x, slope, 0, out);
export const elu = (x: Tensor, alpha: number, out?: Tensor): Tensor => unary('elu', UnaryOp.Elu, x, alpha, 0, out);
/** Torch's SoftPlus: log(1 + exp(beta*x)) / beta, linear above `threshold` (in units of beta*x). */
export const softplus = (x: Tensor, beta = 1, threshold = 20, out?: Tensor): Tensor =>
  unary('softplus', UnaryOp.SoftPlus, x, beta, threshold, out);
/** x > threshold ? x : value */
export const threshold = (x: Tensor, th: number, value: number, out?: Tensor): Tensor =>
  unary('threshold', UnaryOp.Threshold, x, th, value, out);

export function clamp(x: Tensor, min: number, max: number, out?: Tensor): Tensor {
  if (!(min <= max)) throw new RangeError(`clamp: min ${min} must not exceed max ${max}`);
  return unary('clamp', UnaryOp.Clamp, x, min, max, out);
}

/** Gradient helpers for activation layers: each is one fused pass. */
export const tanhBackward = (y: Tensor, gy: Tensor, out?: Tensor): Tensor => binary('tanhBackward', BinaryOp.TanhBackward, y, gy, 1, out);
export const sigmoidBackward = (y: Tensor, gy: Tensor, out?: Tensor): Tensor => binary('sigmoidBackward', BinaryOp.SigmoidBackward, y, gy, 1, out);
/** gy where x > th, else 0 (ReLU's gradient with th = 0) */
export const thresholdBackward = (x: Tensor, gy: Tensor, th = 0, out?: Tensor): Tensor =>
  binary('thresholdBackward', BinaryOp.ThresholdBackward, x, gy, th, out);
