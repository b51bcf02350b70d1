import { backend } from '../backend/registry.js';
import { contiguousTarget, outputFor, requireFloat, requireInt, requireNdim } from './checks.js';
import { normDim, numelOf, shapeStr } from './shape.js';
import { Tensor } from './tensor.js';

/**
 * Index-based reads and writes: indexSelect/indexAdd_ (row lookups, as in embeddings) and
 * gather/scatterAdd_ (per-element indices, as in PyTorch). An out-of-range index is reported
 * with its value and position before anything is written.
 */

function badIndex(op: string, bad: number, index: Tensor, limit: number, x: Tensor, dim: number): never {
  const flat = index.contiguous();
  throw new RangeError(`${op}: index ${flat.data[flat.offset + bad]} at position ${bad} of the index ${shapeStr(index.shape)} is out of range for dim ${dim} (size ${limit}) of ${shapeStr(x.shape)}`);
}

/** Rows of x along dim picked by a 1-d int32 index: out.shape = x.shape with shape[dim] = index.numel. */
export function indexSelect(x: Tensor, dim: number, index: Tensor, out?: Tensor): Tensor {
  requireFloat('indexSelect', x);
  requireInt('indexSelect', 'index', index);
  requireNdim('indexSelect', 'index', index, 1);
  const d = normDim('indexSelect', dim, x.shape);
  const shape = x.shape.slice();
  shape[d] = index.numel;
  const o = outputFor('indexSelect', shape, out);
  const xc = x.contiguous(), ic = index.contiguous(), t = contiguousTarget(o);
  const outer = numelOf(x.shape.slice(0, d)), rows = x.shape[d], width = numelOf(x.shape.slice(d + 1));
  for (let i = 0; i < outer; i++) {
    const bad = backend().indexSelect(rows, width, xc.data as Float32Array, xc.offset + i * rows * width,
      ic.data as Int32Array, ic.offset, index.numel, t.data as Float32Array, t.offset + i * index.numel * width);
    if (bad >= 0) badIndex('indexSelect', bad, index, rows, x, d);
  }
  if (t !== o) o.copy_(t);
  return o;
}

/** x[..., index[j], ...] += alpha * src[..., j, ...] along dim (repeated indices accumulate). */
export function indexAdd_(x: Tensor, dim: number, index: Tensor, src: Tensor, alpha = 1): Tensor {
  requireFloat('indexAdd_', x, src);
  requireInt('indexAdd_', 'index', index);
  requireNdim('indexAdd_', 'index', index, 1);
  const d = normDim('indexAdd_', dim, x.shape);
  const expected = x.shape.slice();
  expected[d] = index.numel;
  if (src.ndim !== expected.length || src.shape.some((s, i) => s !== expected[i])) {
    throw new RangeError(`indexAdd_: src has shape ${shapeStr(src.shape)} but ${shapeStr(expected)} is needed for an index of ${index.numel} into ${shapeStr(x.shape)} along dim ${d}`);
  }
  if (!x.isContiguous()) throw new RangeError(`indexAdd_: the target ${shapeStr(x.shape)} must be contiguous (it is updated in place)`);
  const sc = src.contiguous(), ic = index.contiguous();
  const outer = numelOf(x.shape.slice(0, d)), rows = x.shape[d], width = numelOf(x.shape.slice(d + 1));
  for (let i = 0; i < outer; i++) {
    const bad = backend().indexAdd(rows, width, x.data as Float32Array, x.offset + i * rows * width, ic.data as Int32Array, ic.offset,
      index.numel, sc.data as Float32Array, sc.offset + i * index.numel * width, alpha);
    if (bad >= 0) badIndex('indexAdd_', bad, index, rows, x, d);
  }
  return x;
}

function checkGatherShapes(op: string, x: Tensor, d: number, index: Tensor): void {
  if (index.ndim !== x.ndim || index.shape.some((s, i) => i !== d && s !== x.shape[i])) {
    throw new RangeError(`${op}: index ${shapeStr(index.shape)} must match ${shapeStr(x.shape)} in every dim but ${d}`);
  }
}

/** out[..., j, ...] = x[..., index[..., j, ...], ...] along dim; out.shape = index.shape. */
export function gather(x: Tensor, dim: number, index: Tensor, out?: Tensor): Tensor {
  requireFloat('gather', x);
  requireInt('gather', 'index', index);
  const d = normDim('gather', dim, x.shape);
  checkGatherShapes('gather', x, d, index);
  const o = outputFor('gather', index.shape, out);
  const xc = x.contiguous(), ic = index.contiguous(), t = contiguousTarget(o);
  const bad = backend().gather(numelOf(x.shape.slice(0, d)), x.shape[d], numelOf(x.shape.slice(d + 1)), index.shape[d],
    xc.data as Float32Array, xc.offset, ic.data as Int32Array, ic.offset, t.data as Float32Array, t.offset);
  if (bad >= 0) badIndex('gather', bad, index, x.shape[d], x, d);
  if (t !== o) o.copy_(t);
  return o;
}

/** x[..., index[..., j, ...], ...] += src[..., j, ...] along dim; index and src share a shape. */
export function scatterAdd_(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  requireFloat('scatterAdd_', x, src);
  requireInt('scatterAdd_', 'index', index);
  const d = normDim('scatterAdd_', dim, x.shape);
  checkGatherShapes('scatterAdd_', x, d, index);
  if (!index.equalShape(src)) throw new RangeError(`scatterAdd_: index ${shapeStr(index.shape)} and src ${shapeStr(src.shape)} must have the same shape`);
  if (!x.isContiguous()) throw new RangeError(`scatterAdd_: the target ${shapeStr(x.shape)} must be contiguous (it is updated in place)`);
  const sc = src.contiguous(), ic = index.contiguous();
  const bad = backend().scatterAdd(numelOf(x.shape.slice(0, d)), x.shape[d], numelOf(x.shape.slice(d + 1)), index.shape[d],
    sc.data as Float32Array, sc.offset, ic.data as Int32Array, ic.offset, x.data as Float32Array, x.offset);
  if (bad >= 0) badIndex('scatterAdd_', bad, index, x.shape[d], x, d);
  return x;
}
