import { Tensor } from '../tensor/tensor.js';
import * as ops from '../tensor/ops.js';
import { sameShape, shapeStr } from '../tensor/shape.js';
import { RandomNormal, type InitializationMethod } from './init.js';
import { badInput, ensureShape, Module, type Parameter } from './module.js';

export interface LookupTableOptions {
  /**
   * An index whose row is a padding vector (PyTorch's padding_idx): initialised to zeros and
   * never receiving gradient. Negative values count from the end.
   */
  paddingValue?: number;
  /** Rows looked up in forward whose normType-norm exceeds maxNorm are rescaled to maxNorm, in place. */
  maxNorm?: number;
  /** The p of the p-norm used with maxNorm (default 2; Infinity for the max-norm). */
  normType?: number;
  /** Initialiser of the table (default: normal(0, 1), as PyTorch and BigDL). */
  weightInit?: InitializationMethod;
}

const EPS_RENORM = 1e-7;

/**
 * Embedding lookup (BigDL's LookupTable, PyTorch's nn.Embedding) with 0-based indices: input
 * [batch] or [batch, time] of int32 indices (float32 holding integers is accepted), output
 * [..., nOutput]; the table `weight` is [nIndex, nOutput].
 *
 * Gradients accumulate only into the rows that were looked up (one indexAdd_), and the layer
 * records those rows so a distributed engine can ship sparse updates: see touchedRows().
 */
export class LookupTable extends Module {
  readonly weight: Parameter;
  /** the padding row, or null */
  readonly paddingIndex: number | null;
  readonly maxNorm: number | null;
  readonly normType: number;
  private idx = Tensor.empty([0], { dtype: 'int32' });
  private readonly marked: Uint8Array;
  private readonly touched: Int32Array;
  private nTouched = 0;
  private readonly padRow: Float32Array;

  constructor(readonly nIndex: number, readonly nOutput: number, opts: LookupTableOptions = {}) {
    super();
    if (!Number.isInteger(nIndex) || nIndex < 1) throw new RangeError(`LookupTable: nIndex must be a positive integer, got ${nIndex}`);
    if (!Number.isInteger(nOutput) || nOutput < 1) throw new RangeError(`LookupTable: nOutput must be a positive integer, got ${nOutput}`);
    const pad = opts.paddingValue;
    if (pad !== undefined && (!Number.isInteger(pad) || pad < -nIndex || pad >= nIndex)) {
      throw new RangeError(`LookupTable: paddingValue ${pad} must be an index in [-${nIndex}, ${nIndex})`);
    }
    this.paddingIndex = pad === undefined ? null : pad < 0 ? pad + nIndex : pad;
    if (opts.maxNorm !== undefined && !(opts.maxNorm > 0)) throw new RangeError(`LookupTable: maxNorm must be positive, got ${opts.maxNorm}`);
    this.maxNorm = opts.maxNorm ?? null;
    this.normType = opts.normType ?? 2;
    if (!(this.normType > 0)) throw new RangeError(`LookupTable: normType must be positive, got ${this.normType}`);
    this.weight = this.registerParameter('weight', Tensor.empty([nIndex, nOutput]));
    this.marked = new Uint8Array(nIndex);
    this.touched = new Int32Array(nIndex);
    this.padRow = new Float32Array(nOutput);
    this.reset(opts.weightInit);
  }

  /** Re-initialises the table (normal(0, 1) unless given); the padding row becomes zeros. */
  reset(weightInit: InitializationMethod = RandomNormal(0, 1)): this {
    weightInit.init(this.weight.weight, this.nIndex, this.nOutput);
    if (this.paddingIndex !== null) this.weight.weight.select(0, this.paddingIndex).zero_();
    return this;
  }

  /** The indices as a flat int32 tensor (a reused buffer), checked against nIndex. */
  private indices(input: Tensor): Tensor {
    if (!(input instanceof Tensor) || (input.ndim !== 1 && input.ndim !== 2)) {
      badInput(this, '[batch] or [batch, time] indices (int32, or float32 holding integers)', input);
    }
    const n = input.numel;
    if (this.idx.numel !== n) this.idx = Tensor.empty([n], { dtype: 'int32' });
    const dst = this.idx.data as Int32Array, src = input.data;
    const rows = input.ndim === 2 ? input.shape[0] : 1, cols = input.shape[input.ndim - 1];
    const rs = input.ndim === 2 ? input.strides[0] : 0, cs = input.strides[input.ndim - 1];
    let k = 0;
    for (let r = 0; r < rows; r++) {
      let off = input.offset + r * rs;
      for (let c = 0; c < cols; c++, off += cs) {
        const v = src[off];
        if (!(v >= 0 && v < this.nIndex && Number.isInteger(v))) this.badIndex(v, input, r, c);
        dst[k++] = v;
      }
    }
    return this.idx;
  }

  private badIndex(v: number, input: Tensor, r: number, c: number): never {
    const at = input.ndim === 2 ? `[${r}, ${c}]` : `${c}`;
    if (!Number.isInteger(v)) throw new RangeError(`${this.getName()}: index ${v} at position ${at} is not an integer`);
    throw new RangeError(`${this.getName()}: index ${v} at position ${at} is out of range for nIndex ${this.nIndex} (indices are 0-based: 0..${this.nIndex - 1})`);
  }

  /** PyTorch's embedding_renorm_: rows with norm > maxNorm are scaled by maxNorm / (norm + 1e-7). */
  private renorm(idx: Tensor): void {
    const w = this.weight.weight, data = w.data, D = this.nOutput, p = this.normType, max = this.maxNorm!;
    const ids = idx.data as Int32Array;
    for (let k = 0; k < idx.numel; k++) {
      const base = w.offset + ids[k] * D;
      let norm = 0;
      if (p === Infinity) {
        for (let j = 0; j < D; j++) norm = Math.max(norm, Math.abs(data[base + j]));
      } else {
        for (let j = 0; j < D; j++) norm += Math.abs(data[base + j]) ** p;
        norm = norm ** (1 / p);
      }
      if (norm > max) {
        const s = max / (norm + EPS_RENORM);
        for (let j = 0; j < D; j++) data[base + j] *= s;
      }
    }
  }

  updateOutput(input: Tensor): Tensor {
    const idx = this.indices(input);
    if (this.maxNorm !== null) this.renorm(idx);
    const out = ensureShape(this.output, [...input.shape, this.nOutput]);
    ops.indexSelect(this.weight.weight, 0, idx, out.view(idx.numel, this.nOutput));
    this.output = out;
    return this.output;
  }

  private checkGradOutput(input: Tensor, gradOutput: Tensor): void {
    if (!(gradOutput instanceof Tensor) || !sameShape(gradOutput.shape, [...input.shape, this.nOutput])) {
      throw new RangeError(`${this.getName()}: gradOutput ${gradOutput instanceof Tensor ? shapeStr(gradOutput.shape) : typeof gradOutput} does not match the output ${shapeStr([...input.shape, this.nOutput])}`);
    }
  }

  /** Indices have no gradient: zeros shaped like the input (as BigDL). */
  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    this.checkGradOutput(input, gradOutput);
    // never written, so it stays zero
    this.gradInput = ensureShape(this.gradInput, input.shape);
    return this.gradInput;
  }

  override accGradParameters(input: Tensor, gradOutput: Tensor, scale = 1): void {
    this.checkGradOutput(input, gradOutput);
    const idx = this.indices(input), ids = idx.data as Int32Array, n = idx.numel;
    const pad = this.paddingIndex ?? -1;
    let padHit = false;
    for (let k = 0; k < n; k++) {
      const r = ids[k];
      if (r === pad) padHit = true;
      else if (!this.marked[r]) {
        this.marked[r] = 1;
        this.touched[this.nTouched++] = r;
      }
    }
    const g = this.weight.gradient, D = this.nOutput;
    // the padding row takes no gradient: keep its value across the indexAdd_
    if (padHit) this.padRow.set(g.data.subarray(g.offset + pad * D, g.offset + (pad + 1) * D));
    ops.indexAdd_(g, 0, idx, gradOutput.reshape(n, D), scale);
    if (padHit) (g.data as Float32Array).set(this.padRow, g.offset + pad * D);
  }

  /**
   * The rows whose gradient may be non-zero, sorted: those that received gradient since the
   * last zeroGradParameters(). Rows whose accumulated gradient is exactly zero are left out,
   * which also drops rows cleared by a container's zeroGradParameters (that one zeroes the
   * gradient buffers without calling this layer's method). A view into a reused buffer: copy it
   * to keep it past the next backward.
   */
  touchedRows(): Int32Array {
    const g = this.weight.gradient, data = g.data, D = this.nOutput;
    let kept = 0;
    for (let i = 0; i < this.nTouched; i++) {
      const r = this.touched[i], base = g.offset + r * D;
      let nonzero = false;
      for (let j = 0; j < D && !nonzero; j++) nonzero = data[base + j] !== 0;
      if (nonzero) this.touched[kept++] = r;
      else this.marked[r] = 0;
    }
    this.nTouched = kept;
    const rows = this.touched.subarray(0, kept);
    rows.sort();
    return rows;
  }

  override zeroGradParameters(): void {
    super.zeroGradParameters();
    for (let i = 0; i < this.nTouched; i++) this.marked[this.touched[i]] = 0;
    this.nTouched = 0;
  }

  protected override extraRepr(): string {
    const extra = [this.paddingIndex !== null ? `padding ${this.paddingIndex}` : '', this.maxNorm !== null ? `maxNorm ${this.maxNorm}` : '']
      .filter(Boolean).join(', ');
    return `(${this.nIndex} -> ${this.nOutput}${extra ? `, ${extra}` : ''})`;
  }
}
