import { ReduceOp } from '../backend/backend.js';
import { backend } from '../backend/registry.js';
import { contiguousTarget, outputFor, requireFloat } from './checks.js';
import { normDim, numelOf, shapeStr } from './shape.js';
import { Tensor } from './tensor.js';

/**
 * Reductions along one dim (or the whole tensor when dim is undefined, giving a 0-d tensor).
 * The input is seen as contiguous [outer, n, inner]; a strided input is copied first.
 */

interface Plan { outer: number; n: number; inner: number; outShape: number[] }

function plan(op: string, x: Tensor, dim: number | undefined, keepDim: boolean): Plan {
  if (dim === undefined) {
    if (x.numel === 0) throw new RangeError(`${op}: cannot reduce an empty tensor ${shapeStr(x.shape)}`);
    return { outer: 1, n: x.numel, inner: 1, outShape: keepDim ? x.shape.map(() => 1) : [] };
  }
  const d = normDim(op, dim, x.shape);
  if (x.shape[d] === 0) throw new RangeError(`${op}: cannot reduce dim ${d} of size 0 in ${shapeStr(x.shape)}`);
  const outShape = x.shape.slice();
  if (keepDim) outShape[d] = 1;
  else outShape.splice(d, 1);
  return { outer: numelOf(x.shape.slice(0, d)), n: x.shape[d], inner: numelOf(x.shape.slice(d + 1)), outShape };
}

function run(op: string, code: ReduceOp, x: Tensor, dim: number | undefined, keepDim: boolean,
  out?: Tensor, indices?: Tensor | null): Tensor {
  requireFloat(op, x);
  const p = plan(op, x, dim, keepDim);
  const o = outputFor(op, p.outShape, out);
  const c = x.contiguous();
  const target = contiguousTarget(o);
  const idx = indices ? contiguousTarget(indices) : null;
  backend().reduce(code, p.outer, p.n, p.inner, c.data as Float32Array, c.offset,
    target.data as Float32Array, target.offset, idx ? (idx.data as Int32Array) : null, idx ? idx.offset : 0);
  if (target !== o) o.copy_(target);
  if (indices && idx && idx !== indices) indices.copy_(idx);
  return o;
}

export const sum = (x: Tensor, dim?: number, keepDim = false, out?: Tensor): Tensor => run('sum', ReduceOp.Sum, x, dim, keepDim, out);
export const mean = (x: Tensor, dim?: number, keepDim = false, out?: Tensor): Tensor => run('mean', ReduceOp.Mean, x, dim, keepDim, out);
export const prod = (x: Tensor, dim?: number, keepDim = false, out?: Tensor): Tensor => run('prod', ReduceOp.Prod, x, dim, keepDim, out);
/** sum of squares: the squared L2 norm when dim is undefined */
export const sumSquares = (x: Tensor, dim?: number, keepDim = false, out?: Tensor): Tensor =>
  run('sumSquares', ReduceOp.SumSquares, x, dim, keepDim, out);

export interface ValuesIndices { values: Tensor; indices: Tensor }

function extreme(op: string, code: ReduceOp, x: Tensor, dim: number | undefined, keepDim: boolean,
  out?: ValuesIndices): ValuesIndices {
  const p = plan(op, x, dim, keepDim);
  const indices = outputFor(op, p.outShape, out?.indices, 'int32');
  const values = run(op, code, x, dim, keepDim, out?.values, indices);
  return { values, indices };
}

/** Maximum values and the position (first one) of each along dim. NaN counts as the maximum. */
export const max = (x: Tensor, dim?: number, keepDim = false, out?: ValuesIndices): ValuesIndices => extreme('max', ReduceOp.Max, x, dim, keepDim, out);
export const min = (x: Tensor, dim?: number, keepDim = false, out?: ValuesIndices): ValuesIndices => extreme('min', ReduceOp.Min, x, dim, keepDim, out);
export const argmax = (x: Tensor, dim?: number, keepDim = false): Tensor => max(x, dim, keepDim).indices;
export const argmin = (x: Tensor, dim?: number, keepDim = false): Tensor => min(x, dim, keepDim).indices;
