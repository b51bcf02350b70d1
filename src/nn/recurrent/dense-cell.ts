/**
 * What the dense cells (RnnCell, LSTM, LSTMPeephole, GRU) share: a step input [batch, inputSize],
 * a state [batch, hiddenSize], and PyTorch's initialisation of the stacked gate parameters. Their
 * class hierarchies differ (the LSTMs share LSTMFamily with ConvLSTM), so these are functions.
 */
import type { Tensor } from '../../tensor/tensor.js';
import type { Shape } from '../../tensor/shape.js';
import type { InitializationMethod } from '../init.js';

export const denseStepInputDesc = (inputSize: number): string => `[batch, ${inputSize}]`;

export const acceptsDenseStep = (shape: Shape, inputSize: number): boolean => shape.length === 2 && shape[1] === inputSize && shape[0] >= 1;

export const denseStateShape = (stepShape: Shape, hiddenSize: number): number[] => [stepShape[0], hiddenSize];

/** PyTorch's initialisation of the gate-stacked weights and biases: fan-in hiddenSize, fan-out gates x hiddenSize. */
export function initDenseGates(p: { weightIH: { weight: Tensor }; weightHH: { weight: Tensor }; biasIH: { weight: Tensor }; biasHH: { weight: Tensor } },
  hiddenSize: number, gates: number, weightInit: InitializationMethod, biasInit: InitializationMethod): void {
  const H = hiddenSize;
  weightInit.init(p.weightIH.weight, H, gates * H);
  weightInit.init(p.weightHH.weight, H, gates * H);
  biasInit.init(p.biasIH.weight, H, gates * H);
  biasInit.init(p.biasHH.weight, H, gates * H);
}
