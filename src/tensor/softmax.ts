import { backend } from '../backend/registry.js';
import { contiguousTarget, outputFor, requireFinite, requireFloat } from './checks.js';
import { normDim, numelOf, sameShape, shapeStr } from './shape.js';
import { Tensor } from './tensor.js';

/**
 * Softmax and log-softmax along a dim, and their gradients. The input must be finite: a NaN or
 * infinity would silently turn every probability of its row into NaN.
 */

function dims(op: string, x: Tensor, dim: number): [number, number, number] {
  const d = normDim(op, dim, x.shape);
  return [numelOf(x.shape.slice(0, d)), x.shape[d], numelOf(x.shape.slice(d + 1))];
}

function forward(op: string, log: boolean, x: Tensor, dim: number, out?: Tensor): Tensor {
  requireFloat(op, x);
  const o = outputFor(op, x.shape, out);
  if (x.numel === 0) return o;
  requireFinite(op, 'input', x);
  const [outer, n, inner] = dims(op, x, dim);
  const c = x.contiguous();
  const t = contiguousTarget(o);
  backend().softmax(log, outer, n, inner, c.data as Float32Array, c.offset, t.data as Float32Array, t.offset);
  if (t !== o) o.copy_(t);
  return o;
}

function backwardOp(op: string, log: boolean, y: Tensor, gy: Tensor, dim: number, out?: Tensor): Tensor {
  requireFloat(op, y, gy);
  if (!sameShape(y.shape, gy.shape)) throw new RangeError(`${op}: output ${shapeStr(y.shape)} and gradient ${shapeStr(gy.shape)} differ in shape`);
  const o = outputFor(op, y.shape, out);
  if (y.numel === 0) return o;
  const [outer, n, inner] = dims(op, y, dim);
  const yc = y.contiguous(), gc = gy.contiguous();
  const t = contiguousTarget(o);
  backend().softmaxBackward(log, outer, n, inner, yc.data as Float32Array, yc.offset, gc.data as Float32Array, gc.offset,
    t.data as Float32Array, t.offset);
  if (t !== o) o.copy_(t);
  return o;
}

export const softmax = (x: Tensor, dim = -1, out?: Tensor): Tensor => forward('softmax', false, x, dim, out);
export const logSoftmax = (x: Tensor, dim = -1, out?: Tensor): Tensor => forward('logSoftmax', true, x, dim, out);
/** Gradient of softmax from its output y and the output gradient gy. */
export const softmaxBackward = (y: Tensor, gy: Tensor, dim = -1, out?: Tensor): Tensor => backwardOp('softmaxBackward', false, y, gy, dim, out);
/** Gradient of log-softmax from its output y and the output gradient gy. */
export const logSoftmaxBackward = (y: Tensor, gy: Tensor, dim = -1, out?: Tensor): Tensor => backwardOp('logSoftmaxBackward', true, y, gy, dim, out);
