/** Shape arithmetic shared by the tensor ops. Every error names the op and the shapes involved. */

export type Shape = readonly number[];

export function shapeStr(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function numelOf(shape: Shape): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

export function checkShape(op: string, shape: Shape): void {
  for (const s of shape) {
    if (!Number.isInteger(s) || s < 0) throw new RangeError(`${op}: invalid shape ${shapeStr(shape)}: sizes must be non-negative integers`);
  }
}

/** Resolves a possibly negative dim against ndim, or throws naming the op and shape. */
export function normDim(op: string, dim: number, shape: Shape, allowEnd = false): number {
  const nd = shape.length + (allowEnd ? 1 : 0);
  if (!Number.isInteger(dim) || dim < -nd || dim >= nd) {
    throw new RangeError(`${op}: dim ${dim} is out of range for a tensor of shape ${shapeStr(shape)} (valid: ${-nd}..${nd - 1})`);
  }
  return dim < 0 ? dim + nd : dim;
}

/** NumPy/PyTorch broadcasting of two shapes. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const nd = Math.max(a.length, b.length);
  const out = new Array<number>(nd);
  for (let i = 0; i < nd; i++) {
    const x = a[a.length - nd + i] ?? 1;
    const y = b[b.length - nd + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) {
      throw new RangeError(`${op}: shapes ${shapeStr(a)} and ${shapeStr(b)} cannot be broadcast (dim ${i} from the left of the broadcast shape: ${x} vs ${y})`);
    }
    out[i] = x === 1 ? y : x;
  }
  return out;
}

/** Strides that read a tensor of `shape`/`strides` as if it had `target` shape (0 on broadcast dims). */
export function broadcastStrides(op: string, shape: Shape, strides: Shape, target: Shape): number[] {
  const out = new Array<number>(target.length).fill(0);
  const off = target.length - shape.length;
  if (off < 0) throw new RangeError(`${op}: cannot broadcast ${shapeStr(shape)} to ${shapeStr(target)}`);
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === target[off + i]) out[off + i] = strides[i];
    else if (shape[i] === 1) out[off + i] = 0;
    else throw new RangeError(`${op}: cannot broadcast ${shapeStr(shape)} to ${shapeStr(target)}`);
  }
  return out;
}

export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Resolves one -1 in a reshape target. */
export function inferShape(op: string, from: Shape, target: Shape): number[] {
  const n = numelOf(from);
  let unknown = -1;
  let known = 1;
  const out = target.slice();
  for (let i = 0; i < out.length; i++) {
    if (out[i] === -1) {
      if (unknown >= 0) throw new RangeError(`${op}: only one dimension may be -1 in ${shapeStr(target)}`);
      unknown = i;
    } else {
      if (!Number.isInteger(out[i]) || out[i] < 0) throw new RangeError(`${op}: invalid size ${out[i]} in ${shapeStr(target)}`);
      known *= out[i];
    }
  }
  if (unknown >= 0) {
    if (known === 0 || n % known !== 0) throw new RangeError(`${op}: cannot reshape ${shapeStr(from)} (${n} elements) to ${shapeStr(target)}`);
    out[unknown] = n / known;
  } else if (known !== n) {
    throw new RangeError(`${op}: cannot reshape ${shapeStr(from)} (${n} elements) to ${shapeStr(target)} (${known} elements)`);
  }
  return out;
}

/**
 * Strides for viewing (shape, strides) as newShape without copying, or null when the memory
 * layout does not allow it (PyTorch's computeStride).
 */
export function viewStrides(shape: Shape, strides: Shape, newShape: Shape): number[] | null {
  const out = new Array<number>(newShape.length);
  if (numelOf(shape) === 0) return contiguousStrides(newShape);
  // Group old dims into chunks that are contiguous among themselves; each chunk maps to a run of new dims.
  let viewD = newShape.length - 1;
  let chunkBase = strides[strides.length - 1] ?? 1;
  let tensorNumel = 1;
  let viewNumel = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    tensorNumel *= shape[d];
    if (d === 0 || (shape[d - 1] !== 1 && strides[d - 1] !== tensorNumel * chunkBase)) {
      while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] === 1)) {
        out[viewD] = viewNumel * chunkBase;
        viewNumel *= newShape[viewD];
        viewD--;
      }
      if (viewNumel !== tensorNumel) return null;
      if (d > 0) {
        chunkBase = strides[d - 1];
        tensorNumel = 1;
        viewNumel = 1;
      }
    }
  }
  if (viewD !== -1) {
    // remaining leading size-1 dims
    while (viewD >= 0) {
      if (newShape[viewD] !== 1) return null;
      out[viewD] = 1;
      viewD--;
    }
  }
  return out;
}
