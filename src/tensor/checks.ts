import { backend } from '../backend/registry.js';
import { sameShape, shapeStr, type Shape } from './shape.js';
import { Tensor } from './tensor.js';

/** Shared argument checks for tensor ops; every message names the op. */

export function requireFloat(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.dtype !== 'float32') throw new TypeError(`${op}: expects float32 tensors, got ${t.dtype} ${shapeStr(t.shape)}`);
  }
}

export function requireInt(op: string, what: string, t: Tensor): void {
  if (t.dtype !== 'int32') throw new TypeError(`${op}: ${what} must be an int32 tensor, got ${t.dtype} ${shapeStr(t.shape)}`);
}

export function requireNdim(op: string, what: string, t: Tensor, ...allowed: number[]): void {
  if (!allowed.includes(t.ndim)) {
    throw new RangeError(`${op}: ${what} must be ${allowed.join(' or ')}-d, got shape ${shapeStr(t.shape)}`);
  }
}

/** The given output tensor after checking its shape, or a new float32 tensor of `shape`. */
export function outputFor(op: string, shape: Shape, out?: Tensor, dtype: 'float32' | 'int32' = 'float32'): Tensor {
  if (!out) return Tensor.empty(shape, { dtype });
  if (!sameShape(out.shape, shape)) throw new RangeError(`${op}: out has shape ${shapeStr(out.shape)} but the result has shape ${shapeStr(shape)}`);
  if (out.dtype !== dtype) throw new TypeError(`${op}: out must be ${dtype}, got ${out.dtype}`);
  return out;
}

/** A contiguous output: `out` itself when it is contiguous, else a temporary the caller copies back. */
export function contiguousTarget(out: Tensor): Tensor {
  return out.isContiguous() ? out : Tensor.empty(out.shape, { dtype: out.dtype });
}

/** For ops whose result is only meaningful on finite input (softmax, normalisation). */
export function requireFinite(op: string, what: string, t: Tensor): void {
  const c = t.contiguous();
  if (!backend().allFinite(c.data as Float32Array, c.offset, c.numel)) {
    throw new RangeError(`${op}: ${what} ${shapeStr(t.shape)} contains NaN or infinity`);
  }
}
