import { Sequential } from '../nn/sequential.js';
import { Reshape } from '../nn/shape-layers.js';
import { SpatialConvolution } from '../nn/conv.js';
import { SpatialMaxPooling } from '../nn/pooling.js';
import { Linear } from '../nn/linear.js';
import { LogSoftMax, Tanh } from '../nn/activations.js';
import { requirePositiveInt } from './util.js';

/**
 * BigDL's LeNet-5 (models/lenet/LeNet5.scala) for 28x28 grey images: input [batch, 28, 28],
 * [batch, 1, 28, 28] or [batch, 784] (any layout with 784 values per sample), output
 * log-probabilities [batch, classNum]. 22,278 parameters for 10 classes:
 *
 *   Reshape [1, 28, 28] → conv 1→6 5x5 → Tanh → max 2x2 → conv 6→12 5x5 → Tanh → max 2x2
 *   → Reshape [192] → Linear 192→100 → Tanh → Linear 100→classNum → LogSoftMax
 *
 * conv1 computes no gradient w.r.t. the images (propagateBack false): nothing reads it, and it
 * was a quarter of a training step; the model's gradInput is zeros.
 */
export function LeNet5(classNum = 10): Sequential {
  requirePositiveInt('LeNet5', 'classNum', classNum);
  return new Sequential()
    .add(new Reshape([1, 28, 28]))
    .add(new SpatialConvolution(1, 6, 5, 5, 1, 1, 0, 0, 1, { propagateBack: false }).setName('conv1_5x5'))
    .add(new Tanh())
    .add(new SpatialMaxPooling(2, 2, 2, 2))
    .add(new SpatialConvolution(6, 12, 5, 5).setName('conv2_5x5'))
    .add(new Tanh())
    .add(new SpatialMaxPooling(2, 2, 2, 2))
    .add(new Reshape([12 * 4 * 4]))
    .add(new Linear(12 * 4 * 4, 100).setName('fc1'))
    .add(new Tanh())
    .add(new Linear(100, classNum).setName('fc2'))
    .add(new LogSoftMax())
    .setName('LeNet5');
}
