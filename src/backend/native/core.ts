import type { CoreKernels, F32, Shape } from '../backend.js';
import type { NativeAddon } from './addon.js';

/**
 * Adapters from the kernel interface to the addon. Shapes and strides are packed into one
 * reused Int32Array ([ndim, shape..., strides of each operand...]) after merging dimensions that
 * are contiguous in every operand, so the C++ loops see as few, as long runs as possible and no
 * call allocates.
 */
const MAX_DIMS = 16;
const geo = new Int32Array(1 + MAX_DIMS * 4);

function pack(shape: Shape, s0: Shape, s1: Shape, s2?: Shape): Int32Array {
  const operands = s2 ? 3 : 2;
  let nd = 0;
  // Walk dims from the innermost out; fold dim d into the current run when, for every operand,
  // stride[d] == stride[run] * size[run]. Size-1 dims are dropped.
  const sh: number[] = tmpShape;
  const st0 = tmp0, st1 = tmp1, st2 = tmp2;
  for (let d = shape.length - 1; d >= 0; d--) {
    const size = shape[d];
    if (size === 1) continue;
    if (nd > 0) {
      const r = nd - 1;
      if (s0[d] === st0[r] * sh[r] && s1[d] === st1[r] * sh[r] && (!s2 || s2[d] === st2[r] * sh[r])) {
        sh[r] *= size;
        continue;
      }
    }
    sh[nd] = size;
    st0[nd] = s0[d];
    st1[nd] = s1[d];
    st2[nd] = s2 ? s2[d] : 0;
    nd++;
  }
  if (shape.length > 0 && nd === 0) {
    // every dim was 1: a single element
    sh[0] = 1; st0[0] = 0; st1[0] = 0; st2[0] = 0; nd = 1;
  }
  if (nd > MAX_DIMS) throw new Error(`native kernels support at most ${MAX_DIMS} non-mergeable dimensions, got ${nd}`);
  geo[0] = nd;
  for (let i = 0; i < nd; i++) {
    const j = nd - 1 - i; // back to outermost-first order
    geo[1 + i] = sh[j];
    geo[1 + nd + i] = st0[j];
    geo[1 + 2 * nd + i] = st1[j];
    if (operands === 3) geo[1 + 3 * nd + i] = st2[j];
  }
  return geo;
}
const tmpShape: number[] = new Array(64).fill(0);
const tmp0: number[] = new Array(64).fill(0);
const tmp1: number[] = new Array(64).fill(0);
const tmp2: number[] = new Array(64).fill(0);

export function nativeCore(addon: NativeAddon): CoreKernels {
  const a = addon;
  return {
    unary(op, shape, x, xOff, xStrides, out, outOff, outStrides, s, t) {
      a.unary(op, pack(shape, xStrides, outStrides), x, xOff, out, outOff, s, t);
    },
    binary(op, shape, x, xOff, xStrides, y, yOff, yStrides, out, outOff, outStrides, s) {
      a.binary(op, pack(shape, xStrides, yStrides, outStrides), x, xOff, y, yOff, out, outOff, s);
    },
    copy(shape, src, srcOff, srcStrides, dst, dstOff, dstStrides) {
      a.copy(pack(shape, srcStrides, dstStrides), src, srcOff, dst, dstOff);
    },
    reduce(op, outer, n, inner, x, xOff, out, outOff, indices, indicesOff) {
      a.reduce(op, outer, n, inner, x, xOff, out, outOff, indices, indicesOff);
    },
    softmax(log, outer, n, inner, x, xOff, out, outOff) {
      a.softmax(log, outer, n, inner, x, xOff, out, outOff);
    },
    softmaxBackward(log, outer, n, inner, y, yOff, gy, gyOff, gx, gxOff) {
      a.softmaxBackward(log, outer, n, inner, y, yOff, gy, gyOff, gx, gxOff);
    },
    gemm(transA, transB, m, n, k, alpha, x, aOff, lda, y, bOff, ldb, beta, c, cOff, ldc) {
      a.gemm(transA, transB, m, n, k, alpha, x, aOff, lda, y, bOff, ldb, beta, c, cOff, ldc);
    },
    gemmBatched(batch, transA, transB, m, n, k, alpha, x, aOff, sA, lda, y, bOff, sB, ldb, beta, c, cOff, sC, ldc) {
      a.gemmBatched(batch, transA, transB, m, n, k, alpha, x, aOff, sA, lda, y, bOff, sB, ldb, beta, c, cOff, sC, ldc);
    },
    gather(outer, nIn, inner, nIdx, x, xOff, idx, idxOff, out, outOff) {
      return a.gather(outer, nIn, inner, nIdx, x, xOff, idx, idxOff, out, outOff) as number;
    },
    scatterAdd(outer, nOut, inner, nIdx, src, srcOff, idx, idxOff, out, outOff) {
      return a.scatterAdd(outer, nOut, inner, nIdx, src, srcOff, idx, idxOff, out, outOff) as number;
    },
    indexSelect(rows, width, table, tableOff, idx, idxOff, count, out, outOff) {
      return a.indexSelect(rows, width, table, tableOff, idx, idxOff, count, out, outOff) as number;
    },
    indexAdd(rows, width, table, tableOff, idx, idxOff, count, src, srcOff, alpha) {
      return a.indexAdd(rows, width, table, tableOff, idx, idxOff, count, src, srcOff, alpha) as number;
    },
    allFinite(x: F32, off: number, n: number) {
      return a.allFinite(x, off, n) as boolean;
    },
    sgdUpdate(n, w, wOff, g, gOff, buf, bufOff, lr, weightDecay, momentum, dampening, nesterov, first) {
      a.sgdUpdate(n, w, wOff, g, gOff, buf, bufOff, lr, weightDecay, momentum, dampening, nesterov, first);
    },
    lstmGatesForward(B, n, G, gOff, gRow, cp, cpOff, cpRow, c, cOff, cRow, tc, tcOff, tcRow, h, hOff, hRow) {
      a.lstmGatesForward(B, n, G, gOff, gRow, cp, cpOff, cpRow, c, cOff, cRow, tc, tcOff, tcRow, h, hOff, hRow);
    },
    lstmGatesBackward(B, n, G, gOff, gRow, tc, tcOff, tcRow, cp, cpOff, cpRow, dh, dhOff, dhRow, dc, dcOff, dcRow, dG, dgOff, dgRow,
      dcp, dcpOff, dcpRow) {
      a.lstmGatesBackward(B, n, G, gOff, gRow, tc, tcOff, tcRow, cp, cpOff, cpRow, dh, dhOff, dhRow, dc, dcOff, dcRow, dG, dgOff, dgRow,
        dcp, dcpOff, dcpRow);
    },
    setThreads(n) {
      a.setThreads(n);
    },
    getThreads() {
      return a.getThreads() as number;
    },
  };
}
