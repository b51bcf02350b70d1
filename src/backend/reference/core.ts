import { BinaryOp, ReduceOp, UnaryOp, type CoreKernels, type F32, type I32, type Shape } from '../backend.js';

/**
 * The reference kernels: the specification every native kernel is tested against. Written to be
 * obviously correct, not fast: one element at a time, in float64 arithmetic rounded on store.
 */

/** Calls fn(flat offsets...) for every element of `shape`, row-major. */
function forEachIndex(shape: Shape, offsets: number[], strides: Shape[], fn: (offs: number[]) => void): void {
  const nd = shape.length;
  for (const s of shape) if (s === 0) return;
  const idx = new Array<number>(nd).fill(0);
  const offs = offsets.slice();
  for (;;) {
    fn(offs);
    let d = nd - 1;
    for (; d >= 0; d--) {
      idx[d]++;
      for (let k = 0; k < offs.length; k++) offs[k] += strides[k][d];
      if (idx[d] < shape[d]) break;
      for (let k = 0; k < offs.length; k++) offs[k] -= strides[k][d] * shape[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

export function unaryScalar(op: UnaryOp, x: number, a: number, b: number): number {
  switch (op) {
    case UnaryOp.Neg: return -x;
    case UnaryOp.Abs: return Math.abs(x);
    case UnaryOp.Exp: return Math.exp(x);
    case UnaryOp.Log: return Math.log(x);
    case UnaryOp.Sqrt: return Math.sqrt(x);
    case UnaryOp.Square: return x * x;
    case UnaryOp.Tanh: return Math.tanh(x);
    case UnaryOp.Sigmoid: return 1 / (1 + Math.exp(-x));
    case UnaryOp.Relu: return x > 0 ? x : 0;
    case UnaryOp.Reciprocal: return 1 / x;
    case UnaryOp.Sign: return x > 0 ? 1 : x < 0 ? -1 : 0;
    case UnaryOp.Affine: return a * x + b;
    case UnaryOp.Pow: return Math.pow(x, a);
    case UnaryOp.Clamp: return x < a ? a : x > b ? b : x;
    case UnaryOp.LeakyRelu: return x > 0 ? x : a * x;
    case UnaryOp.Elu: return x > 0 ? x : a * (Math.exp(x) - 1);
    case UnaryOp.SoftPlus: return a * x > b ? x : Math.log1p(Math.exp(a * x)) / a;
    case UnaryOp.Threshold: return x > a ? x : b;
    case UnaryOp.Fill: return a;
    case UnaryOp.Log1p: return Math.log1p(x);
    case UnaryOp.Rsqrt: return 1 / Math.sqrt(x);
  }
  throw new Error(`reference unary: unknown op ${op as number}`);
}

export function binaryScalar(op: BinaryOp, x: number, y: number, a: number): number {
  switch (op) {
    case BinaryOp.Add: return x + a * y;
    case BinaryOp.Sub: return x - a * y;
    case BinaryOp.Mul: return x * y;
    case BinaryOp.Div: return x / y;
    case BinaryOp.Max: return x > y ? x : y;
    case BinaryOp.Min: return x < y ? x : y;
    case BinaryOp.Pow: return Math.pow(x, y);
    case BinaryOp.Eq: return x === y ? 1 : 0;
    case BinaryOp.Gt: return x > y ? 1 : 0;
    case BinaryOp.Lt: return x < y ? 1 : 0;
    case BinaryOp.TanhBackward: return y * (1 - x * x);
    case BinaryOp.SigmoidBackward: return y * x * (1 - x);
    case BinaryOp.ThresholdBackward: return x > a ? y : 0;
    case BinaryOp.Axpby: return a * x + y;
  }
  throw new Error(`reference binary: unknown op ${op as number}`);
}

function firstBad(idx: I32, off: number, count: number, limit: number): number {
  for (let i = 0; i < count; i++) {
    const v = idx[off + i];
    if (v < 0 || v >= limit) return i;
  }
  return -1;
}

let threads = 1;

export const referenceCore: CoreKernels = {
  unary(op, shape, x, xOff, xStrides, out, outOff, outStrides, a, b) {
    forEachIndex(shape, [xOff, outOff], [xStrides, outStrides], ([i, o]) => {
      out[o] = unaryScalar(op, x[i], a, b);
    });
  },

  binary(op, shape, x, xOff, xStrides, y, yOff, yStrides, out, outOff, outStrides, a) {
    forEachIndex(shape, [xOff, yOff, outOff], [xStrides, yStrides, outStrides], ([i, j, o]) => {
      out[o] = binaryScalar(op, x[i], y[j], a);
    });
  },

  copy(shape, src, srcOff, srcStrides, dst, dstOff, dstStrides) {
    const toInt = dst instanceof Int32Array && src instanceof Float32Array;
    forEachIndex(shape, [srcOff, dstOff], [srcStrides, dstStrides], ([s, d]) => {
      dst[d] = toInt ? Math.trunc(src[s]) : src[s];
    });
  },

  reduce(op, outer, n, inner, x, xOff, out, outOff, indices, indicesOff) {
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        const at = (i: number) => x[xOff + (o * n + i) * inner + j];
        let acc: number;
        let pos = 0;
        if (op === ReduceOp.Max || op === ReduceOp.Min) {
          // first extreme wins; a NaN wins over everything, as in PyTorch
          acc = at(0);
          for (let i = 1; i < n && !Number.isNaN(acc); i++) {
            const v = at(i);
            if (Number.isNaN(v) || (op === ReduceOp.Max ? v > acc : v < acc)) {
              acc = v;
              pos = i;
            }
          }
        } else if (op === ReduceOp.Prod) {
          acc = 1;
          for (let i = 0; i < n; i++) acc *= at(i);
        } else {
          acc = 0;
          for (let i = 0; i < n; i++) acc += op === ReduceOp.SumSquares ? at(i) * at(i) : at(i);
          if (op === ReduceOp.Mean) acc /= n;
        }
        out[outOff + o * inner + j] = acc;
        if (indices) indices[indicesOff + o * inner + j] = pos;
      }
    }
  },

  softmax(log, outer, n, inner, x, xOff, out, outOff) {
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        const p = (i: number) => xOff + (o * n + i) * inner + j;
        const q = (i: number) => outOff + (o * n + i) * inner + j;
        let m = -Infinity;
        for (let i = 0; i < n; i++) m = Math.max(m, x[p(i)]);
        let s = 0;
        for (let i = 0; i < n; i++) s += Math.exp(x[p(i)] - m);
        for (let i = 0; i < n; i++) out[q(i)] = log ? x[p(i)] - m - Math.log(s) : Math.exp(x[p(i)] - m) / s;
      }
    }
  },

  softmaxBackward(log, outer, n, inner, y, yOff, gy, gyOff, gx, gxOff) {
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        const at = (i: number) => (o * n + i) * inner + j;
        let s = 0;
        for (let i = 0; i < n; i++) s += log ? gy[gyOff + at(i)] : gy[gyOff + at(i)] * y[yOff + at(i)];
        for (let i = 0; i < n; i++) {
          const yi = y[yOff + at(i)], gi = gy[gyOff + at(i)];
          gx[gxOff + at(i)] = log ? gi - Math.exp(yi) * s : yi * (gi - s);
        }
      }
    }
  },

  gemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc) {
    const A = (i: number, p: number) => (transA ? a[aOff + p * lda + i] : a[aOff + i * lda + p]);
    const B = (p: number, j: number) => (transB ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j]);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += A(i, p) * B(p, j);
        const at = cOff + i * ldc + j;
        // beta == 0 ignores C entirely (it may hold NaN), as BLAS does
        c[at] = alpha * s + (beta === 0 ? 0 : beta * c[at]);
      }
    }
  },

  gemmBatched(batch, transA, transB, m, n, k, alpha, a, aOff, sA, lda, b, bOff, sB, ldb, beta, c, cOff, sC, ldc) {
    for (let i = 0; i < batch; i++) {
      referenceCore.gemm(transA, transB, m, n, k, alpha, a, aOff + i * sA, lda, b, bOff + i * sB, ldb, beta, c, cOff + i * sC, ldc);
    }
  },

  gather(outer, nIn, inner, nIdx, x, xOff, idx, idxOff, out, outOff) {
    const bad = firstBad(idx, idxOff, outer * nIdx * inner, nIn);
    if (bad >= 0) return bad;
    for (let o = 0; o < outer; o++)
      for (let j = 0; j < nIdx; j++)
        for (let i = 0; i < inner; i++) {
          const p = (o * nIdx + j) * inner + i;
          out[outOff + p] = x[xOff + (o * nIn + idx[idxOff + p]) * inner + i];
        }
    return -1;
  },

  scatterAdd(outer, nOut, inner, nIdx, src, srcOff, idx, idxOff, out, outOff) {
    const bad = firstBad(idx, idxOff, outer * nIdx * inner, nOut);
    if (bad >= 0) return bad;
    for (let o = 0; o < outer; o++)
      for (let j = 0; j < nIdx; j++)
        for (let i = 0; i < inner; i++) {
          const p = (o * nIdx + j) * inner + i;
          out[outOff + (o * nOut + idx[idxOff + p]) * inner + i] += src[srcOff + p];
        }
    return -1;
  },

  indexSelect(rows, width, table, tableOff, idx, idxOff, count, out, outOff) {
    const bad = firstBad(idx, idxOff, count, rows);
    if (bad >= 0) return bad;
    for (let j = 0; j < count; j++)
      for (let i = 0; i < width; i++) out[outOff + j * width + i] = table[tableOff + idx[idxOff + j] * width + i];
    return -1;
  },

  indexAdd(rows, width, table, tableOff, idx, idxOff, count, src, srcOff, alpha) {
    const bad = firstBad(idx, idxOff, count, rows);
    if (bad >= 0) return bad;
    for (let j = 0; j < count; j++)
      for (let i = 0; i < width; i++) table[tableOff + idx[idxOff + j] * width + i] += alpha * src[srcOff + j * width + i];
    return -1;
  },

  allFinite(x: F32, off: number, n: number) {
    for (let i = 0; i < n; i++) if (!Number.isFinite(x[off + i])) return false;
    return true;
  },

  sgdUpdate(n, w, wOff, g, gOff, buf, bufOff, lr, weightDecay, momentum, dampening, nesterov, first) {
    const f = Math.fround;
    const nlr = f(-lr), wd = f(weightDecay), mom = f(momentum), keep = f(1 - dampening);
    if (mom !== 0 && !buf) throw new RangeError('sgdUpdate: momentum needs a buffer');
    for (let i = 0; i < n; i++) {
      let d = g[gOff + i];
      if (wd !== 0) d = f(d + f(wd * w[wOff + i]));
      if (mom !== 0) {
        const v = first ? d : f(f(mom * buf![bufOff + i]) + f(keep * d));
        buf![bufOff + i] = v;
        d = nesterov ? f(d + f(mom * v)) : v;
      }
      w[wOff + i] = f(w[wOff + i] + f(nlr * d));
    }
  },

  lstmGatesForward(B, n, G, gOff, gRow, cp, cpOff, cpRow, c, cOff, cRow, tc, tcOff, tcRow, h, hOff, hRow) {
    const f = Math.fround, sig = (x: number) => f(1 / (1 + Math.exp(-x)));
    for (let b = 0; b < B; b++) {
      const g = gOff + b * gRow;
      for (let j = 0; j < 2 * n; j++) G[g + j] = sig(G[g + j]);
      for (let j = 2 * n; j < 3 * n; j++) G[g + j] = f(Math.tanh(G[g + j]));
      for (let j = 3 * n; j < 4 * n; j++) G[g + j] = sig(G[g + j]);
      for (let j = 0; j < n; j++) {
        const cv = f(f(G[g + n + j] * cp[cpOff + b * cpRow + j]) + f(G[g + j] * G[g + 2 * n + j]));
        c[cOff + b * cRow + j] = cv;
        const t = f(Math.tanh(cv));
        tc[tcOff + b * tcRow + j] = t;
        h[hOff + b * hRow + j] = f(G[g + 3 * n + j] * t);
      }
    }
  },

  lstmGatesBackward(B, n, G, gOff, gRow, tc, tcOff, tcRow, cp, cpOff, cpRow, dh, dhOff, dhRow, dc, dcOff, dcRow, dG, dgOff, dgRow,
    dcp, dcpOff, dcpRow) {
    const f = Math.fround;
    for (let b = 0; b < B; b++) {
      const g = gOff + b * gRow, d = dgOff + b * dgRow;
      for (let j = 0; j < n; j++) {
        const o = G[g + 3 * n + j], t = tc[tcOff + b * tcRow + j], y = dh[dhOff + b * dhRow + j];
        dG[d + 3 * n + j] = f(f(f(y * t) * o) * f(1 - o));
        const dcj = f(dc[dcOff + b * dcRow + j] + f(f(y * o) * f(1 - f(t * t))));
        dc[dcOff + b * dcRow + j] = dcj;
        const i = G[g + j], fg = G[g + n + j], gg = G[g + 2 * n + j];
        dG[d + j] = f(f(f(dcj * gg) * i) * f(1 - i));
        dG[d + n + j] = f(f(f(dcj * cp[cpOff + b * cpRow + j]) * fg) * f(1 - fg));
        dG[d + 2 * n + j] = f(f(dcj * i) * f(1 - f(gg * gg)));
        dcp[dcpOff + b * dcpRow + j] = f(dcj * fg);
      }
    }
  },

  setThreads(n) {
    threads = n;
  },
  getThreads() {
    return threads;
  },
};
