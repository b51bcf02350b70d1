import { Sequential } from '../nn/sequential.js';
import { Select } from '../nn/shape-layers.js';
import { SpatialConvolution } from '../nn/conv.js';
import { Sigmoid } from '../nn/activations.js';
import { Recurrent } from '../nn/recurrent/recurrent.js';
import { ConvLSTMPeephole } from '../nn/recurrent/conv-lstm.js';
import { TimeDistributed } from '../nn/recurrent/time-distributed.js';
import { requirePositiveInt } from './util.js';

export interface ConvLSTMNowcastOptions {
  /** channels of each input frame (1 for radar echo maps; default 1) */
  inputChannels?: number;
  /** hidden channels of each stacked ConvLSTMPeephole layer (default [64, 64]) */
  hiddenChannels?: readonly number[];
  /** odd kernel size of the input-to-state and state-to-state convolutions (default 3) */
  kernel?: number;
  /**
   * false (default): predict the frame after the last input frame, [batch, C, H, W];
   * true: predict the next frame after every input frame, [batch, T, C, H, W].
   */
  everyStep?: boolean;
}

/**
 * Precipitation nowcasting with convolutional LSTMs (Shi et al. 2015; BigDL's ConvLSTMPeephole
 * example): frames [batch, time, C, H, W] with values in [0, 1] → a stack of
 * Recurrent(ConvLSTMPeephole) layers ('same' padding, so H and W are kept) → the last step's
 * hidden state → 1x1 convolution to C channels → Sigmoid: the predicted next frame
 * [batch, C, H, W] (or, with everyStep, the prediction after every frame, the 1x1 convolution
 * applied with TimeDistributed). Train with BCECriterion or MSECriterion against the next frame(s).
 */
export function ConvLSTMNowcast(opts: ConvLSTMNowcastOptions = {}): Sequential {
  const inputChannels = opts.inputChannels ?? 1;
  const hidden = opts.hiddenChannels ?? [64, 64];
  const kernel = opts.kernel ?? 3;
  requirePositiveInt('ConvLSTMNowcast', 'inputChannels', inputChannels);
  requirePositiveInt('ConvLSTMNowcast', 'kernel', kernel);
  if (kernel % 2 === 0) throw new RangeError(`ConvLSTMNowcast: kernel must be odd ('same' padding), got ${kernel}`);
  if (!Array.isArray(hidden) || hidden.length === 0) throw new RangeError('ConvLSTMNowcast: hiddenChannels must be a non-empty list of positive integers');
  hidden.forEach((h, k) => requirePositiveInt('ConvLSTMNowcast', `hiddenChannels[${k}]`, h));

  const model = new Sequential().setName('ConvLSTMNowcast');
  let c = inputChannels;
  hidden.forEach((h, k) => {
    model.add(new Recurrent().add(new ConvLSTMPeephole(c, h, kernel, kernel)).setName(`convlstm${k}`));
    c = h;
  });
  const head = new SpatialConvolution(c, inputChannels, 1, 1).setName('predict');
  if (opts.everyStep) model.add(new TimeDistributed(head));
  else model.add(new Select(1, -1).setName('lastStep')).add(head);
  return model.add(new Sigmoid());
}
