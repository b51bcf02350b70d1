import { Sequential } from '../nn/sequential.js';
import { View } from '../nn/shape-layers.js';
import { SpatialConvolution } from '../nn/conv.js';
import { SpatialMaxPooling } from '../nn/pooling.js';
import { Linear } from '../nn/linear.js';
import { Dropout } from '../nn/dropout.js';
import { LogSoftMax, ReLU, Threshold } from '../nn/activations.js';
import { requirePositiveInt } from './util.js';

export interface VggOptions {
  /** number of classes (default 1000) */
  classNum?: number;
  /** Dropout(0.5) after each of the two hidden fully connected layers (default true) */
  hasDropout?: boolean;
}

/** The convolution stacks of VGG's configurations D (16 layers) and E (19 layers): channels per stage. */
const STAGES = {
  16: [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
  19: [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]],
} as const;

function vgg(depth: 16 | 19, name: string, opts: VggOptions): Sequential {
  const classNum = opts.classNum ?? 1000;
  const hasDropout = opts.hasDropout ?? true;
  requirePositiveInt(name, 'classNum', classNum);
  const model = new Sequential().setName(name);
  let inPlanes = 3;
  for (const stage of STAGES[depth]) {
    for (const planes of stage) {
      model.add(new SpatialConvolution(inPlanes, planes, 3, 3, 1, 1, 1, 1)).add(new ReLU());
      inPlanes = planes;
    }
    model.add(new SpatialMaxPooling(2, 2, 2, 2));
  }
  // BigDL's classifier: Threshold(0, 1e-6) after the hidden layers (a ReLU whose "zero" is 1e-6)
  model.add(new View(512 * 7 * 7))
    .add(new Linear(512 * 7 * 7, 4096))
    .add(new Threshold(0, 1e-6));
  if (hasDropout) model.add(new Dropout(0.5));
  model.add(new Linear(4096, 4096)).add(new Threshold(0, 1e-6));
  if (hasDropout) model.add(new Dropout(0.5));
  model.add(new Linear(4096, classNum)).add(new LogSoftMax());
  return model;
}

/**
 * BigDL's Vgg_16 (models/vgg, Simonyan & Zisserman configuration D) for 224x224 RGB input
 * [batch, 3, 224, 224] → log-probabilities [batch, classNum]. 13 3x3 convolutions (padding 1)
 * with ReLU in five stages separated by 2x2 max pooling, then 25088 → 4096 → 4096 → classNum.
 * 138,357,544 parameters for 1000 classes.
 */
export function Vgg16(opts: VggOptions = {}): Sequential {
  return vgg(16, 'Vgg16', opts);
}

/** BigDL's Vgg_19 (configuration E): as Vgg16 with four convolutions in each of the last three stages. 143,667,240 parameters for 1000 classes. */
export function Vgg19(opts: VggOptions = {}): Sequential {
  return vgg(19, 'Vgg19', opts);
}
