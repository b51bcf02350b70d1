import { PoolKind, type BatchNormParams, type ConvParams, type DnnKernels, type F32, type LrnParams, type PoolParams } from '../backend.js';

/**
 * Reference convolution, pooling, LRN and batch norm: direct loops over contiguous NCHW data in
 * float64 arithmetic, rounded to float32 on store. This is the specification the native (oneDNN)
 * kernels are tested against; it is written to be read, not to be fast.
 *
 * Conventions fixed here:
 * - Convolution: y[n, o, i, j] = b[o] + sum over the input channels of o's group and the kernel
 *   taps of x[n, c, i*strideH - padH + ki*dilationH, j*strideW - padW + kj*dilationW] * w[o, c', ki, kj];
 *   taps outside the input read zero.
 * - Pooling windows start at (i*strideH - padTop, j*strideW - padLeft). Max ignores cells outside
 *   the input and records the argmax (first maximum, as y*w + x within the plane) as int32 in the
 *   workspace. AvgIncludePad divides by the window cells inside the padded input
 *   [-padTop, h+padBottom) x [-padLeft, w+padRight) (kh*kw for every consistent geometry);
 *   AvgExcludePad by the cells inside the input.
 * - LRN across channels: y = x / (k + alpha/size * sum x^2)^beta over the channels
 *   [c - (size-1)/2, c + (size-1)/2] that exist. Keeps no workspace (backward recomputes).
 * - Batch norm: biased batch variance in training; backward assumes a training-mode forward.
 */

/** Calls fn(xIndex, wIndex, yIndex) for every (output element, tap) pair that reads inside the input. */
function forEachTap(p: ConvParams, fn: (xi: number, wi: number, yi: number) => void): void {
  const cg = p.c / p.groups, og = p.oc / p.groups;
  for (let n = 0; n < p.n; n++) {
    for (let o = 0; o < p.oc; o++) {
      const group = Math.floor(o / og);
      for (let i = 0; i < p.oh; i++) {
        for (let j = 0; j < p.ow; j++) {
          const yi = ((n * p.oc + o) * p.oh + i) * p.ow + j;
          for (let ci = 0; ci < cg; ci++) {
            const c = group * cg + ci;
            for (let ki = 0; ki < p.kh; ki++) {
              const y = i * p.strideH - p.padH + ki * p.dilationH;
              if (y < 0 || y >= p.h) continue;
              for (let kj = 0; kj < p.kw; kj++) {
                const x = j * p.strideW - p.padW + kj * p.dilationW;
                if (x < 0 || x >= p.w) continue;
                fn(((n * p.c + c) * p.h + y) * p.w + x, ((o * cg + ci) * p.kh + ki) * p.kw + kj, yi);
              }
            }
          }
        }
      }
    }
  }
}

/** Window of output (i, j) as rows [y0, y1) and columns [x0, x1), clipped to [top, bottom) x [left, right). */
function window(p: PoolParams, i: number, j: number, top: number, bottom: number, left: number, right: number) {
  const ys = i * p.strideH - p.padTop, xs = j * p.strideW - p.padLeft;
  return {
    y0: Math.max(ys, top), y1: Math.min(ys + p.kh, bottom),
    x0: Math.max(xs, left), x1: Math.min(xs + p.kw, right),
  };
}

function avgDivisor(p: PoolParams, i: number, j: number): number {
  const r = p.kind === PoolKind.AvgIncludePad
    ? window(p, i, j, -p.padTop, p.h + p.padBottom, -p.padLeft, p.w + p.padRight)
    : window(p, i, j, 0, p.h, 0, p.w);
  return Math.max(1, (r.y1 - r.y0) * (r.x1 - r.x0));
}

function argmaxView(p: PoolParams, ws: Uint8Array | null, op: string): Int32Array {
  const need = p.n * p.c * p.oh * p.ow;
  if (!ws || ws.byteLength < need * 4) throw new Error(`reference ${op}: max pooling needs a workspace of ${need * 4} bytes`);
  if (ws.byteOffset % 4 !== 0) throw new Error(`reference ${op}: the workspace must be 4-byte aligned`);
  return new Int32Array(ws.buffer, ws.byteOffset, need);
}

/** scale[c] = k + alpha/size * sum of x^2 over the window of channel c, for one (n, pixel). */
function lrnScales(p: LrnParams, x: F32, base: number, plane: number, out: Float64Array): void {
  const half = (p.size - 1) / 2;
  for (let c = 0; c < p.c; c++) {
    let s = 0;
    for (let d = Math.max(0, c - half); d <= Math.min(p.c - 1, c + half); d++) {
      const v = x[base + d * plane];
      s += v * v;
    }
    out[c] = p.k + (p.alpha / p.size) * s;
  }
}

function bnStats(p: BatchNormParams, x: F32, xOff: number, c: number): { mean: number; variance: number } {
  const plane = p.h * p.w, m = p.n * plane;
  let s = 0;
  for (let n = 0; n < p.n; n++) for (let k = 0; k < plane; k++) s += x[xOff + (n * p.c + c) * plane + k];
  const mean = s / m;
  let v = 0;
  for (let n = 0; n < p.n; n++) {
    for (let k = 0; k < plane; k++) {
      const d = x[xOff + (n * p.c + c) * plane + k] - mean;
      v += d * d;
    }
  }
  return { mean, variance: v / m };
}

export const referenceDnn: DnnKernels = {
  conv2dForward(p, x, xOff, w, wOff, b, bOff, y, yOff) {
    const acc = new Float64Array(p.n * p.oc * p.oh * p.ow);
    forEachTap(p, (xi, wi, yi) => { acc[yi] += x[xOff + xi] * w[wOff + wi]; });
    const plane = p.oh * p.ow;
    for (let i = 0; i < acc.length; i++) y[yOff + i] = acc[i] + (b ? b[bOff + (Math.floor(i / plane) % p.oc)] : 0);
  },

  conv2dBackwardData(p, gy, gyOff, w, wOff, gx, gxOff) {
    const acc = new Float64Array(p.n * p.c * p.h * p.w);
    forEachTap(p, (xi, wi, yi) => { acc[xi] += gy[gyOff + yi] * w[wOff + wi]; });
    for (let i = 0; i < acc.length; i++) gx[gxOff + i] = acc[i];
  },

  conv2dBackwardWeights(p, x, xOff, gy, gyOff, gw, gwOff, gb, gbOff) {
    const acc = new Float64Array(p.oc * (p.c / p.groups) * p.kh * p.kw);
    forEachTap(p, (xi, wi, yi) => { acc[wi] += gy[gyOff + yi] * x[xOff + xi]; });
    for (let i = 0; i < acc.length; i++) gw[gwOff + i] = acc[i];
    if (gb) {
      const plane = p.oh * p.ow;
      for (let o = 0; o < p.oc; o++) {
        let s = 0;
        for (let n = 0; n < p.n; n++) for (let k = 0; k < plane; k++) s += gy[gyOff + (n * p.oc + o) * plane + k];
        gb[gbOff + o] = s;
      }
    }
  },

  pool2dWorkspaceBytes(p) {
    return p.kind === PoolKind.Max ? p.n * p.c * p.oh * p.ow * 4 : 0;
  },

  pool2dForward(p, x, xOff, y, yOff, ws) {
    const arg = p.kind === PoolKind.Max && ws ? argmaxView(p, ws, 'pool2dForward') : null;
    for (let nc = 0; nc < p.n * p.c; nc++) {
      const xb = xOff + nc * p.h * p.w;
      for (let i = 0; i < p.oh; i++) {
        for (let j = 0; j < p.ow; j++) {
          const o = (nc * p.oh + i) * p.ow + j;
          const r = window(p, i, j, 0, p.h, 0, p.w);
          if (p.kind === PoolKind.Max) {
            let best = -Infinity, at = -1;
            for (let yy = r.y0; yy < r.y1; yy++) {
              for (let xx = r.x0; xx < r.x1; xx++) {
                const v = x[xb + yy * p.w + xx];
                if (at < 0 || v > best) { best = v; at = yy * p.w + xx; }
              }
            }
            y[yOff + o] = best;
            if (arg) arg[o] = at;
          } else {
            let s = 0;
            for (let yy = r.y0; yy < r.y1; yy++) for (let xx = r.x0; xx < r.x1; xx++) s += x[xb + yy * p.w + xx];
            y[yOff + o] = s / avgDivisor(p, i, j);
          }
        }
      }
    }
  },

  pool2dBackward(p, gy, gyOff, gx, gxOff, ws) {
    const acc = new Float64Array(p.n * p.c * p.h * p.w);
    const arg = p.kind === PoolKind.Max ? argmaxView(p, ws, 'pool2dBackward') : null;
    for (let nc = 0; nc < p.n * p.c; nc++) {
      const xb = nc * p.h * p.w;
      for (let i = 0; i < p.oh; i++) {
        for (let j = 0; j < p.ow; j++) {
          const o = (nc * p.oh + i) * p.ow + j;
          const g = gy[gyOff + o];
          if (arg) {
            if (arg[o] >= 0) acc[xb + arg[o]] += g;
          } else {
            const r = window(p, i, j, 0, p.h, 0, p.w);
            const share = g / avgDivisor(p, i, j);
            for (let yy = r.y0; yy < r.y1; yy++) for (let xx = r.x0; xx < r.x1; xx++) acc[xb + yy * p.w + xx] += share;
          }
        }
      }
    }
    for (let i = 0; i < acc.length; i++) gx[gxOff + i] = acc[i];
  },

  lrnWorkspaceBytes() {
    return 0;
  },

  lrnForward(p, x, xOff, y, yOff) {
    const plane = p.h * p.w, scale = new Float64Array(p.c);
    for (let n = 0; n < p.n; n++) {
      for (let k = 0; k < plane; k++) {
        const base = xOff + n * p.c * plane + k;
        lrnScales(p, x, base, plane, scale);
        for (let c = 0; c < p.c; c++) {
          const idx = n * p.c * plane + c * plane + k;
          y[yOff + idx] = x[xOff + idx] * Math.pow(scale[c], -p.beta);
        }
      }
    }
  },

  // gx[j] = gy[j] * s[j]^-beta - 2*alpha*beta/size * x[j] * sum over channels c whose window holds j
  //         of gy[c] * x[c] * s[c]^(-beta-1)
  lrnBackward(p, x, xOff, gy, gyOff, gx, gxOff) {
    const plane = p.h * p.w, half = (p.size - 1) / 2;
    const scale = new Float64Array(p.c), t = new Float64Array(p.c);
    for (let n = 0; n < p.n; n++) {
      for (let k = 0; k < plane; k++) {
        const base = n * p.c * plane + k;
        lrnScales(p, x, xOff + base, plane, scale);
        for (let c = 0; c < p.c; c++) {
          t[c] = gy[gyOff + base + c * plane] * x[xOff + base + c * plane] * Math.pow(scale[c], -p.beta - 1);
        }
        for (let j = 0; j < p.c; j++) {
          let s = 0;
          for (let c = Math.max(0, j - half); c <= Math.min(p.c - 1, j + half); c++) s += t[c];
          const idx = base + j * plane;
          gx[gxOff + idx] = gy[gyOff + idx] * Math.pow(scale[j], -p.beta) - (2 * p.alpha * p.beta / p.size) * x[xOff + idx] * s;
        }
      }
    }
  },

  batchNormForward(p, training, x, xOff, y, yOff, scale, scaleOff, shift, shiftOff, mean, meanOff, variance, varianceOff) {
    const plane = p.h * p.w;
    for (let c = 0; c < p.c; c++) {
      let mu: number, v: number;
      if (training) {
        ({ mean: mu, variance: v } = bnStats(p, x, xOff, c));
        mean[meanOff + c] = mu;
        variance[varianceOff + c] = v;
      } else {
        mu = mean[meanOff + c];
        v = variance[varianceOff + c];
      }
      const a = scale[scaleOff + c] / Math.sqrt(v + p.eps), b = shift[shiftOff + c];
      for (let n = 0; n < p.n; n++) {
        for (let k = 0; k < plane; k++) {
          const idx = (n * p.c + c) * plane + k;
          y[yOff + idx] = a * (x[xOff + idx] - mu) + b;
        }
      }
    }
  },

  // xhat = (x - mean) / sqrt(var + eps); gShift = sum gy; gScale = sum gy * xhat;
  // gx = scale / sqrt(var + eps) * (gy - gShift/m - xhat * gScale/m)
  batchNormBackward(p, x, xOff, gy, gyOff, scale, scaleOff, mean, meanOff, variance, varianceOff,
    gx, gxOff, gScale, gScaleOff, gShift, gShiftOff) {
    const plane = p.h * p.w, m = p.n * plane;
    for (let c = 0; c < p.c; c++) {
      const mu = mean[meanOff + c], inv = 1 / Math.sqrt(variance[varianceOff + c] + p.eps);
      let sg = 0, sgx = 0;
      for (let n = 0; n < p.n; n++) {
        for (let k = 0; k < plane; k++) {
          const idx = (n * p.c + c) * plane + k;
          sg += gy[gyOff + idx];
          sgx += gy[gyOff + idx] * (x[xOff + idx] - mu) * inv;
        }
      }
      gShift[gShiftOff + c] = sg;
      gScale[gScaleOff + c] = sgx;
      const a = scale[scaleOff + c] * inv;
      for (let n = 0; n < p.n; n++) {
        for (let k = 0; k < plane; k++) {
          const idx = (n * p.c + c) * plane + k;
          const xhat = (x[xOff + idx] - mu) * inv;
          gx[gxOff + idx] = a * (gy[gyOff + idx] - sg / m - xhat * sgx / m);
        }
      }
    }
  },
};
