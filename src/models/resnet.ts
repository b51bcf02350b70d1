import { Sequential } from '../nn/sequential.js';
import { Concat, ConcatTable } from '../nn/containers.js';
import { CAddTable } from '../nn/tables.js';
import { Identity, View } from '../nn/shape-layers.js';
import { MulConstant } from '../nn/math-layers.js';
import { SpatialConvolution } from '../nn/conv.js';
import { SpatialAveragePooling, SpatialMaxPooling } from '../nn/pooling.js';
import { SpatialBatchNormalization } from '../nn/normalization.js';
import { Linear } from '../nn/linear.js';
import { ReLU } from '../nn/activations.js';
import { MsraFiller, RandomNormal, Zeros } from '../nn/init.js';
import type { Module } from '../nn/module.js';
import { requirePositiveInt } from './util.js';

/**
 * Shortcut connections (He et al. 2016, fb.resnet.torch, BigDL's ShortcutType):
 * A: identity, zero-padded with extra channels (and subsampled by a stride-s 1x1 average pool)
 *    when the block changes width; B: identity, or a 1x1 convolution + BN projection when the
 *    block changes width (BigDL's default); C: always a projection.
 */
export type ShortcutType = 'A' | 'B' | 'C';

export interface ResNetOptions {
  /** number of classes (default 1000 for ImageNet, 10 for CIFAR-10) */
  classNum?: number;
  /** ImageNet: 18, 34, 50 (default), 101, 152, 200; CIFAR-10: 6n+2 (20, 32, 44, 56, 110, ...; default 20) */
  depth?: number;
  /** default 'B' (BigDL's default) */
  shortcutType?: ShortcutType;
  /** 'imagenet' (224x224 input, default) or 'cifar10' (32x32 input) */
  dataset?: 'imagenet' | 'cifar10';
  /**
   * Start the scale (gamma) of the last batch norm of every bottleneck at 0, so that each
   * residual block starts as the identity (Goyal et al. 2017). BigDL does this for bottleneck
   * blocks; default true. Basic blocks (ResNet-18/34, CIFAR) keep gamma = 1 unless this is
   * explicitly true.
   */
  zeroInitResidual?: boolean;
}

/** BigDL's `Convolution`: no bias here (see ResNet), MSRA-initialised weights. */
function conv(nIn: number, nOut: number, k: number, stride = 1, pad = 0): SpatialConvolution {
  return new SpatialConvolution(nIn, nOut, k, k, stride, stride, pad, pad, 1, { withBias: false, weightInit: MsraFiller });
}

/** BigDL's `Sbn`: eps 1e-3, scale 1 (or 0), shift 0. */
function sbn(n: number, zeroGamma = false): SpatialBatchNormalization {
  const bn = new SpatialBatchNormalization(n, { eps: 1e-3, momentum: 0.1 });
  if (zeroGamma) bn.weight!.weight.fill_(0);
  return bn;
}

/**
 * ResNet after BigDL's models/resnet/ResNet.scala (itself after fb.resnet.torch), built with
 * Sequential/ConcatTable/CAddTable like BigDL's `ResNet.apply`.
 *
 * ImageNet: input [batch, 3, 224, 224] → raw class scores [batch, classNum] (no LogSoftMax, as
 * BigDL: train with CrossEntropyCriterion). conv 7x7/2 → BN → ReLU → max 3x3/2 → four stages of
 * basic (18, 34) or bottleneck (50+) blocks → average pool → Linear. ResNet-50 with shortcut B
 * has 25,557,032 parameters.
 *
 * Differences from BigDL, on purpose: the convolutions have no bias (fb.resnet.torch removes
 * them and BigDL zeroes them at init; every convolution is followed by a batch norm whose shift
 * makes a bias redundant), which gives the published parameter counts; and the final 7x7
 * average pool is a global average pool (the same at 224x224, and it also accepts other sizes).
 * The residual sum is not computed in place (BigDL's CAddTable(true)).
 *
 * CIFAR-10 (`dataset: 'cifar10'`): input [batch, 3, 32, 32], conv 3x3 16 → three stages of
 * (depth-2)/6 basic blocks with 16, 32, 64 planes → 8x8 average pool → Linear(64, classNum).
 */
export function ResNet(opts: ResNetOptions = {}): Sequential {
  const dataset = opts.dataset ?? 'imagenet';
  const depth = opts.depth ?? (dataset === 'imagenet' ? 50 : 20);
  const classNum = opts.classNum ?? (dataset === 'imagenet' ? 1000 : 10);
  const shortcutType = opts.shortcutType ?? 'B';
  const name = `ResNet${depth}`;
  requirePositiveInt(name, 'classNum', classNum);
  if (!['A', 'B', 'C'].includes(shortcutType)) throw new RangeError(`ResNet: shortcutType must be 'A', 'B' or 'C', got ${String(shortcutType)}`);

  let iChannels = 0;

  const shortcut = (nIn: number, nOut: number, stride: number): Module<any, any> => {
    const useConv = shortcutType === 'C' || (shortcutType === 'B' && nIn !== nOut);
    if (useConv) return new Sequential().add(conv(nIn, nOut, 1, stride)).add(sbn(nOut));
    if (nIn !== nOut || stride !== 1) {
      if (nOut % nIn !== 0) throw new RangeError(`ResNet: shortcut type A needs the output planes (${nOut}) to be a multiple of the input planes (${nIn})`);
      // subsample, then pad with zero channels: the identity followed by nOut/nIn - 1 zero copies
      const pad = new Concat(1).add(new Identity());
      for (let k = 1; k < nOut / nIn; k++) pad.add(new MulConstant(0));
      return new Sequential().add(new SpatialAveragePooling(1, 1, stride, stride)).add(pad);
    }
    return new Identity();
  };

  const residual = (branch: Module<any, any>, nIn: number, nOut: number, stride: number): Sequential =>
    new Sequential()
      .add(new ConcatTable().add(branch).add(shortcut(nIn, nOut, stride)))
      .add(new CAddTable())
      .add(new ReLU());

  const basicBlock = (n: number, stride: number): Sequential => {
    const nIn = iChannels;
    iChannels = n;
    const s = new Sequential()
      .add(conv(nIn, n, 3, stride, 1)).add(sbn(n)).add(new ReLU())
      .add(conv(n, n, 3, 1, 1)).add(sbn(n, opts.zeroInitResidual === true));
    return residual(s, nIn, n, stride);
  };

  const bottleneck = (n: number, stride: number): Sequential => {
    const nIn = iChannels;
    iChannels = n * 4;
    const s = new Sequential()
      .add(conv(nIn, n, 1)).add(sbn(n)).add(new ReLU())
      .add(conv(n, n, 3, stride, 1)).add(sbn(n)).add(new ReLU())
      .add(conv(n, n * 4, 1)).add(sbn(n * 4, opts.zeroInitResidual ?? true));
    return residual(s, nIn, n * 4, stride);
  };

  const layer = (block: (n: number, stride: number) => Sequential, features: number, count: number, stride = 1): Sequential => {
    const s = new Sequential();
    for (let i = 0; i < count; i++) s.add(block(features, i === 0 ? stride : 1));
    return s;
  };

  const model = new Sequential().setName(name);
  if (dataset === 'imagenet') {
    const cfg: Record<number, [number[], number, (n: number, s: number) => Sequential]> = {
      18: [[2, 2, 2, 2], 512, basicBlock],
      34: [[3, 4, 6, 3], 512, basicBlock],
      50: [[3, 4, 6, 3], 2048, bottleneck],
      101: [[3, 4, 23, 3], 2048, bottleneck],
      152: [[3, 8, 36, 3], 2048, bottleneck],
      200: [[3, 24, 36, 3], 2048, bottleneck],
    };
    const c = cfg[depth];
    if (!c) throw new RangeError(`ResNet: ImageNet depth must be one of ${Object.keys(cfg).join(', ')}, got ${depth}`);
    const [loop, nFeatures, block] = c;
    iChannels = 64;
    model.add(conv(3, 64, 7, 2, 3)).add(sbn(64)).add(new ReLU())
      .add(new SpatialMaxPooling(3, 3, 2, 2, 1, 1))
      .add(layer(block, 64, loop[0]))
      .add(layer(block, 128, loop[1], 2))
      .add(layer(block, 256, loop[2], 2))
      .add(layer(block, 512, loop[3], 2))
      .add(new SpatialAveragePooling(7, 7, 1, 1, 0, 0, { globalPooling: true }))
      .add(new View(nFeatures).setNumInputDims(3))
      .add(new Linear(nFeatures, classNum, { weightInit: RandomNormal(0, 0.01), biasInit: Zeros }));
  } else if (dataset === 'cifar10') {
    if (!Number.isInteger(depth) || depth < 8 || (depth - 2) % 6 !== 0) throw new RangeError(`ResNet: CIFAR-10 depth must be 6n+2 (20, 32, 44, 56, 110, ...), got ${depth}`);
    const n = (depth - 2) / 6;
    iChannels = 16;
    model.add(conv(3, 16, 3, 1, 1)).add(sbn(16)).add(new ReLU())
      .add(layer(basicBlock, 16, n))
      .add(layer(basicBlock, 32, n, 2))
      .add(layer(basicBlock, 64, n, 2))
      .add(new SpatialAveragePooling(8, 8, 1, 1, 0, 0, { globalPooling: true }))
      .add(new View(64).setNumInputDims(3))
      .add(new Linear(64, classNum));
  } else {
    throw new RangeError(`ResNet: dataset must be 'imagenet' or 'cifar10', got ${String(dataset)}`);
  }
  return model;
}

/** ResNet-50 for ImageNet (25,557,032 parameters with the default shortcut B). */
export function ResNet50(opts: Omit<ResNetOptions, 'depth' | 'dataset'> = {}): Sequential {
  return ResNet({ ...opts, depth: 50, dataset: 'imagenet' });
}
