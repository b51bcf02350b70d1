import type { BatchNormParams, ConvParams, DnnKernels, LrnParams, PoolParams } from '../backend.js';
import type { NativeAddon } from './addon.js';

/**
 * Adapters from the DNN kernel interface to the addon (native/src/dnn.cc). Integer geometry is
 * packed into reused module-level Int32Arrays, float parameters (LRN alpha/beta/k, BN eps) go as
 * plain numbers, so no call allocates. Addon argument orders:
 *
 *   conv2dForward(convGeo, x, xOff, w, wOff, b | null, bOff, y, yOff)
 *   conv2dBackwardData(convGeo, gy, gyOff, w, wOff, gx, gxOff)
 *   conv2dBackwardWeights(convGeo, x, xOff, gy, gyOff, gw, gwOff, gb | null, gbOff)
 *     convGeo = [n, c, h, w, oc, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, groups, oh, ow]
 *   pool2dWorkspaceBytes(poolGeo) -> number
 *   pool2dForward(poolGeo, x, xOff, y, yOff, workspace | null)
 *   pool2dBackward(poolGeo, gy, gyOff, gx, gxOff, workspace | null)
 *     poolGeo = [kind, n, c, h, w, kh, kw, strideH, strideW, padTop, padLeft, padBottom, padRight, oh, ow]
 *   lrnWorkspaceBytes(lrnGeo, alpha, beta, k) -> number
 *   lrnForward(lrnGeo, alpha, beta, k, x, xOff, y, yOff, workspace | null)
 *   lrnBackward(lrnGeo, alpha, beta, k, x, xOff, gy, gyOff, gx, gxOff, workspace | null)
 *     lrnGeo = [n, c, h, w, size]
 *   batchNormForward(bnGeo, eps, training, x, xOff, y, yOff, scale, scaleOff, shift, shiftOff,
 *     mean, meanOff, variance, varianceOff)
 *   batchNormBackward(bnGeo, eps, x, xOff, gy, gyOff, scale, scaleOff, mean, meanOff, variance,
 *     varianceOff, gx, gxOff, gScale, gScaleOff, gShift, gShiftOff)
 *     bnGeo = [n, c, h, w]
 */
const convGeo = new Int32Array(16);
const poolGeo = new Int32Array(15);
const lrnGeo = new Int32Array(5);
const bnGeo = new Int32Array(4);

function packConv(p: ConvParams): Int32Array {
  const g = convGeo;
  g[0] = p.n; g[1] = p.c; g[2] = p.h; g[3] = p.w; g[4] = p.oc; g[5] = p.kh; g[6] = p.kw;
  g[7] = p.strideH; g[8] = p.strideW; g[9] = p.padH; g[10] = p.padW; g[11] = p.dilationH; g[12] = p.dilationW;
  g[13] = p.groups; g[14] = p.oh; g[15] = p.ow;
  return g;
}

function packPool(p: PoolParams): Int32Array {
  const g = poolGeo;
  g[0] = p.kind; g[1] = p.n; g[2] = p.c; g[3] = p.h; g[4] = p.w; g[5] = p.kh; g[6] = p.kw;
  g[7] = p.strideH; g[8] = p.strideW; g[9] = p.padTop; g[10] = p.padLeft; g[11] = p.padBottom; g[12] = p.padRight;
  g[13] = p.oh; g[14] = p.ow;
  return g;
}

function packLrn(p: LrnParams): Int32Array {
  const g = lrnGeo;
  g[0] = p.n; g[1] = p.c; g[2] = p.h; g[3] = p.w; g[4] = p.size;
  return g;
}

function packBn(p: BatchNormParams): Int32Array {
  const g = bnGeo;
  g[0] = p.n; g[1] = p.c; g[2] = p.h; g[3] = p.w;
  return g;
}

export function nativeDnn(addon: NativeAddon): DnnKernels {
  const a = addon;
  return {
    conv2dForward(p, x, xOff, w, wOff, b, bOff, y, yOff) {
      a.conv2dForward(packConv(p), x, xOff, w, wOff, b, bOff, y, yOff);
    },
    conv2dBackwardData(p, gy, gyOff, w, wOff, gx, gxOff) {
      a.conv2dBackwardData(packConv(p), gy, gyOff, w, wOff, gx, gxOff);
    },
    conv2dBackwardWeights(p, x, xOff, gy, gyOff, gw, gwOff, gb, gbOff) {
      a.conv2dBackwardWeights(packConv(p), x, xOff, gy, gyOff, gw, gwOff, gb, gbOff);
    },
    pool2dWorkspaceBytes(p) {
      return a.pool2dWorkspaceBytes(packPool(p)) as number;
    },
    pool2dForward(p, x, xOff, y, yOff, ws) {
      a.pool2dForward(packPool(p), x, xOff, y, yOff, ws);
    },
    pool2dBackward(p, gy, gyOff, gx, gxOff, ws) {
      a.pool2dBackward(packPool(p), gy, gyOff, gx, gxOff, ws);
    },
    lrnWorkspaceBytes(p) {
      return a.lrnWorkspaceBytes(packLrn(p), p.alpha, p.beta, p.k) as number;
    },
    lrnForward(p, x, xOff, y, yOff, ws) {
      a.lrnForward(packLrn(p), p.alpha, p.beta, p.k, x, xOff, y, yOff, ws);
    },
    lrnBackward(p, x, xOff, gy, gyOff, gx, gxOff, ws) {
      a.lrnBackward(packLrn(p), p.alpha, p.beta, p.k, x, xOff, gy, gyOff, gx, gxOff, ws);
    },
    batchNormForward(p, training, x, xOff, y, yOff, scale, scaleOff, shift, shiftOff, mean, meanOff, variance, varianceOff) {
      a.batchNormForward(packBn(p), p.eps, training, x, xOff, y, yOff, scale, scaleOff, shift, shiftOff,
        mean, meanOff, variance, varianceOff);
    },
    batchNormBackward(p, x, xOff, gy, gyOff, scale, scaleOff, mean, meanOff, variance, varianceOff,
      gx, gxOff, gScale, gScaleOff, gShift, gShiftOff) {
      a.batchNormBackward(packBn(p), p.eps, x, xOff, gy, gyOff, scale, scaleOff, mean, meanOff, variance, varianceOff,
        gx, gxOff, gScale, gScaleOff, gShift, gShiftOff);
    },
  };
}
