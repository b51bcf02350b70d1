import { Tensor } from '../tensor/tensor.js';
import * as ops from '../tensor/ops.js';
import { Sequential } from '../nn/sequential.js';
import { Concat } from '../nn/containers.js';
import { View } from '../nn/shape-layers.js';
import { SpatialConvolution } from '../nn/conv.js';
import { SpatialAveragePooling, SpatialMaxPooling } from '../nn/pooling.js';
import { SpatialCrossMapLRN } from '../nn/normalization.js';
import { Linear } from '../nn/linear.js';
import { Dropout } from '../nn/dropout.js';
import { LogSoftMax, ReLU } from '../nn/activations.js';
import { Xavier } from '../nn/init.js';
import { ensureShape, Module, type Activity } from '../nn/module.js';
import { requirePositiveInt } from './util.js';

/** Output planes of one Inception module: 1x1, [3x3 reduce, 3x3], [5x5 reduce, 5x5], pool projection. */
export type InceptionConfig = readonly [number, readonly [number, number], readonly [number, number], number];

function xconv(nIn: number, nOut: number, k: number, stride = 1, pad = 0): SpatialConvolution {
  return new SpatialConvolution(nIn, nOut, k, k, stride, stride, pad, pad, 1, { weightInit: Xavier });
}

/**
 * BigDL's Inception_Layer_v1: four towers run on the same input and concatenated along the
 * channels (1x1 | 1x1 → 3x3 | 1x1 → 5x5 | 3x3 max pool → 1x1), each convolution followed by ReLU.
 */
export function InceptionLayerV1(inputSize: number, config: InceptionConfig, namePrefix = ''): Concat {
  const [c1, [r3, c3], [r5, c5], cp] = config;
  const concat = new Concat(1);
  concat.add(new Sequential().add(xconv(inputSize, c1, 1).setName(namePrefix + '1x1')).add(new ReLU()));
  concat.add(new Sequential()
    .add(xconv(inputSize, r3, 1).setName(namePrefix + '3x3_reduce')).add(new ReLU())
    .add(xconv(r3, c3, 3, 1, 1).setName(namePrefix + '3x3')).add(new ReLU()));
  concat.add(new Sequential()
    .add(xconv(inputSize, r5, 1).setName(namePrefix + '5x5_reduce')).add(new ReLU())
    .add(xconv(r5, c5, 5, 1, 2).setName(namePrefix + '5x5')).add(new ReLU()));
  concat.add(new Sequential()
    .add(new SpatialMaxPooling(3, 3, 1, 1, 1, 1).ceil().setName(namePrefix + 'pool'))
    .add(xconv(inputSize, cp, 1).setName(namePrefix + 'pool_proj')).add(new ReLU()));
  return concat.setName(namePrefix + 'output');
}

export interface InceptionV1Options {
  /** number of classes (default 1000) */
  classNum?: number;
  /** the dropout layers (0.4 before the classifier, 0.7 in the auxiliary heads); default true */
  hasDropout?: boolean;
  /**
   * The two auxiliary classifiers of GoogLeNet (after inception 4a and 4d). In training the
   * model then returns the table [main, aux1, aux2] of log-probabilities (train it with a
   * ParallelCriterion, e.g. weights 1, 0.3, 0.3); in evaluation only the main output. Default false.
   */
  auxHeads?: boolean;
}

/** conv1 … inception 4a: [N, 3, 224, 224] → [N, 512, 14, 14]. */
function stem(): Sequential {
  return new Sequential()
    // as BigDL's Inception_v1: no gradient w.r.t. the images (propagateBack false)
    .add(xconv(3, 64, 7, 2, 3).setPropagateBack(false).setName('conv1/7x7_s2'))
    .add(new ReLU())
    .add(new SpatialMaxPooling(3, 3, 2, 2).ceil().setName('pool1/3x3_s2'))
    .add(new SpatialCrossMapLRN(5, 0.0001, 0.75).setName('pool1/norm1'))
    .add(xconv(64, 64, 1).setName('conv2/3x3_reduce'))
    .add(new ReLU())
    .add(xconv(64, 192, 3, 1, 1).setName('conv2/3x3'))
    .add(new ReLU())
    .add(new SpatialCrossMapLRN(5, 0.0001, 0.75).setName('conv2/norm2'))
    .add(new SpatialMaxPooling(3, 3, 2, 2).ceil().setName('pool2/3x3_s2'))
    .add(InceptionLayerV1(192, [64, [96, 128], [16, 32], 32], 'inception_3a/'))
    .add(InceptionLayerV1(256, [128, [128, 192], [32, 96], 64], 'inception_3b/'))
    .add(new SpatialMaxPooling(3, 3, 2, 2).ceil().setName('pool3/3x3_s2'))
    .add(InceptionLayerV1(480, [192, [96, 208], [16, 48], 64], 'inception_4a/'));
}

/** inception 4b … 4d: [N, 512, 14, 14] → [N, 528, 14, 14]. */
function middle(): Sequential {
  return new Sequential()
    .add(InceptionLayerV1(512, [160, [112, 224], [24, 64], 64], 'inception_4b/'))
    .add(InceptionLayerV1(512, [128, [128, 256], [24, 64], 64], 'inception_4c/'))
    .add(InceptionLayerV1(512, [112, [144, 288], [32, 64], 64], 'inception_4d/'));
}

/** inception 4e … classifier: [N, 528, 14, 14] → [N, classNum]. */
function head(classNum: number, hasDropout: boolean): Sequential {
  const s = new Sequential()
    .add(InceptionLayerV1(528, [256, [160, 320], [32, 128], 128], 'inception_4e/'))
    .add(new SpatialMaxPooling(3, 3, 2, 2).ceil().setName('pool4/3x3_s2'))
    .add(InceptionLayerV1(832, [256, [160, 320], [32, 128], 128], 'inception_5a/'))
    .add(InceptionLayerV1(832, [384, [192, 384], [48, 128], 128], 'inception_5b/'))
    .add(new SpatialAveragePooling(7, 7, 1, 1).setName('pool5/7x7_s1'));
  if (hasDropout) s.add(new Dropout(0.4).setName('pool5/drop_7x7_s1'));
  return s
    .add(new View(1024).setNumInputDims(3))
    .add(new Linear(1024, classNum, { weightInit: Xavier }).setName('loss3/classifier'))
    .add(new LogSoftMax().setName('loss3/loss3'));
}

/** An auxiliary classifier on a [N, inputSize, 14, 14] feature map (BigDL's output1/output2). */
function auxHead(inputSize: number, classNum: number, hasDropout: boolean, prefix: string): Sequential {
  const s = new Sequential()
    .add(new SpatialAveragePooling(5, 5, 3, 3).ceil().setName(`${prefix}/ave_pool`))
    .add(new SpatialConvolution(inputSize, 128, 1, 1, 1, 1).setName(`${prefix}/conv`))
    .add(new ReLU())
    .add(new View(128 * 4 * 4).setNumInputDims(3))
    .add(new Linear(128 * 4 * 4, 1024).setName(`${prefix}/fc`))
    .add(new ReLU());
  if (hasDropout) s.add(new Dropout(0.7).setName(`${prefix}/drop_fc`));
  return s
    .add(new Linear(1024, classNum).setName(`${prefix}/classifier`))
    .add(new LogSoftMax().setName(`${prefix}/loss`));
}

/**
 * GoogLeNet with its two auxiliary classifiers. BigDL's Inception_v1 concatenates the three
 * log-probability outputs into one [N, 3*classNum] tensor; here training returns them as the
 * table [main, aux1, aux2] and evaluation only runs the main path and returns its tensor.
 *
 *   x → stem → f1 ─┬→ aux1
 *                  └→ middle → f2 ─┬→ aux2
 *                                  └→ head → main
 */
export class InceptionV1WithAux extends Module<Tensor, Activity> {
  private readonly table: Tensor[] = [];
  private gradF1 = Tensor.empty([0]);
  private gradF2 = Tensor.empty([0]);

  constructor(readonly stem: Module, readonly aux1: Module, readonly middle: Module, readonly aux2: Module, readonly head: Module) {
    super();
    this.modules.push(stem, aux1, middle, aux2, head);
  }

  updateOutput(input: Tensor): Activity {
    const f1 = this.stem.forward(input);
    const f2 = this.middle.forward(f1);
    const main = this.head.forward(f2);
    if (!this.train) {
      this.output = main;
      return main;
    }
    this.table[0] = main;
    this.table[1] = this.aux1.forward(f1);
    this.table[2] = this.aux2.forward(f2);
    this.output = this.table;
    return this.output;
  }

  private grads(gradOutput: Activity): Tensor[] {
    if (!this.train) throw new Error(`${this.getName()}: backward in evaluation mode; call training() first (the auxiliary heads only run in training)`);
    if (!Array.isArray(gradOutput) || gradOutput.length !== 3 || !gradOutput.every((g) => g instanceof Tensor)) {
      throw new RangeError(`${this.getName()}: gradOutput must be the table [main, aux1, aux2] of 3 tensors`);
    }
    return gradOutput as Tensor[];
  }

  private pass(input: Tensor, gradOutput: Activity, scale: number, mode: 'grad' | 'both' | 'params'): Tensor {
    const [gMain, gAux1, gAux2] = this.grads(gradOutput);
    const f1 = this.stem.output, f2 = this.middle.output;
    const step = (m: Module, x: Tensor, g: Tensor): Tensor => {
      if (mode === 'both') return m.backward(x, g, scale);
      const gi = m.updateGradInput(x, g);
      if (mode === 'params') m.accGradParameters(x, g, scale);
      return gi;
    };
    this.gradF2 = ensureShape(this.gradF2, f2.shape);
    ops.add(step(this.head, f2, gMain), step(this.aux2, f2, gAux2), 1, this.gradF2);
    this.gradF1 = ensureShape(this.gradF1, f1.shape);
    ops.add(step(this.middle, f1, this.gradF2), step(this.aux1, f1, gAux1), 1, this.gradF1);
    this.gradInput = step(this.stem, input, this.gradF1);
    return this.gradInput;
  }

  updateGradInput(input: Tensor, gradOutput: Activity): Tensor {
    return this.pass(input, gradOutput, 0, 'grad');
  }

  override accGradParameters(input: Tensor, gradOutput: Activity, scale = 1): void {
    this.pass(input, gradOutput, scale, 'params');
  }

  override backward(input: Tensor, gradOutput: Activity, scale = 1): Tensor {
    return this.pass(input, gradOutput, scale, 'both');
  }
}

/**
 * GoogLeNet / Inception-v1 as BigDL defines it (models/inception/Inception_v1.scala, the Caffe
 * bvlc_googlenet layout): local response normalisation, no batch norm, Xavier-initialised
 * convolutions, ceil-mode pooling. Input [N, 3, 224, 224] → log-probabilities [N, classNum].
 * 6,998,552 parameters for 1000 classes; 13,378,280 with the auxiliary heads.
 *
 * Without auxHeads this is BigDL's Inception_v1_NoAuxClassifier (a Sequential); with auxHeads,
 * an InceptionV1WithAux (see there for the output).
 */
export function InceptionV1(opts: InceptionV1Options = {}): Module<Tensor, Activity> {
  const classNum = opts.classNum ?? 1000;
  const hasDropout = opts.hasDropout ?? true;
  requirePositiveInt('InceptionV1', 'classNum', classNum);
  if (!opts.auxHeads) {
    const model = new Sequential().setName('Inception_v1_NoAuxClassifier');
    for (const part of [stem(), middle(), head(classNum, hasDropout)]) for (const m of part.children()) model.add(m);
    return model;
  }
  return new InceptionV1WithAux(stem(), auxHead(512, classNum, hasDropout, 'loss1'), middle(), auxHead(528, classNum, hasDropout, 'loss2'), head(classNum, hasDropout))
    .setName('Inception_v1');
}
