import { Sequential } from '../nn/sequential.js';
import { LookupTable } from '../nn/lookup-table.js';
import { Select } from '../nn/shape-layers.js';
import { TemporalConvolution, TemporalMaxPooling } from '../nn/temporal.js';
import { Linear } from '../nn/linear.js';
import { LogSoftMax, ReLU } from '../nn/activations.js';
import { Recurrent } from '../nn/recurrent/recurrent.js';
import { LSTM } from '../nn/recurrent/lstm.js';
import { GRU } from '../nn/recurrent/gru.js';
import { requirePositiveInt } from './util.js';

export interface TextClassifierOptions {
  /** number of distinct tokens: ids are 0 … vocabSize-1 */
  vocabSize: number;
  /** word vector size */
  embeddingDim: number;
  /** tokens per (padded) text */
  sequenceLength: number;
  classNum: number;
  /** default 'cnn' */
  encoder?: 'lstm' | 'gru' | 'cnn';
  /** encoder output size: LSTM/GRU hidden size, or convolution filters (default 128) */
  hidden?: number;
  /** temporal convolution width of the cnn encoder (default 5) */
  kernelSize?: number;
}

/**
 * BigDL's text classification example (models/textclassifier; Keras's "pre-trained word
 * embeddings" 20 Newsgroups model): token ids [batch, sequenceLength] (int32, or float32 holding
 * integers) → LookupTable → encoder → Linear(hidden, classNum) → LogSoftMax.
 *
 * Encoders: 'lstm' / 'gru' run a Recurrent over the embedded sequence and keep the last step's
 * hidden state; 'cnn' is TemporalConvolution(embeddingDim, hidden, kernelSize) + ReLU followed by
 * a max pool over the whole remaining sequence (global max pooling over time).
 *
 * BigDL's example feeds pre-computed GloVe vectors; here the embedding is a trainable
 * LookupTable (load GloVe rows into `model.get(0).weight.weight` to start from them).
 */
export function TextClassifier(opts: TextClassifierOptions): Sequential {
  const { vocabSize, embeddingDim, sequenceLength, classNum } = opts;
  const encoder = opts.encoder ?? 'cnn';
  const hidden = opts.hidden ?? 128;
  const kernelSize = opts.kernelSize ?? 5;
  for (const [k, v] of Object.entries({ vocabSize, embeddingDim, sequenceLength, classNum, hidden, kernelSize })) requirePositiveInt('TextClassifier', k, v);

  const model = new Sequential().setName(`TextClassifier(${encoder})`);
  model.add(new LookupTable(vocabSize, embeddingDim).setName('embedding'));
  switch (encoder) {
    case 'lstm':
    case 'gru':
      model.add(new Recurrent().add(encoder === 'lstm' ? new LSTM(embeddingDim, hidden) : new GRU(embeddingDim, hidden)).setName(encoder))
        .add(new Select(1, -1).setName('lastStep'));
      break;
    case 'cnn': {
      if (kernelSize > sequenceLength) throw new RangeError(`TextClassifier: kernelSize ${kernelSize} is longer than sequenceLength ${sequenceLength}`);
      model.add(new TemporalConvolution(embeddingDim, hidden, kernelSize).setName('conv'))
        .add(new ReLU())
        .add(new TemporalMaxPooling(sequenceLength - kernelSize + 1).setName('globalMaxPool'))
        .add(new Select(1, 0));
      break;
    }
    default:
      throw new RangeError(`TextClassifier: encoder must be 'lstm', 'gru' or 'cnn', got ${String(encoder)}`);
  }
  return model
    .add(new Linear(hidden, classNum).setName('classifier'))
    .add(new LogSoftMax());
}
