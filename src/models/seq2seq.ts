import { Tensor } from '../tensor/tensor.js';
import { Sequential } from '../nn/sequential.js';
import { LookupTable } from '../nn/lookup-table.js';
import { Linear } from '../nn/linear.js';
import { LogSoftMax } from '../nn/activations.js';
import { Recurrent, RecurrentDecoder, type HiddenState } from '../nn/recurrent/recurrent.js';
import { TimeDistributed } from '../nn/recurrent/time-distributed.js';
import { LSTM } from '../nn/recurrent/lstm.js';
import { badInput, ensureShape, Module, type Activity } from '../nn/module.js';
import { requirePositiveInt } from './util.js';

export interface Seq2seqOptions {
  /** feature size of real-valued input steps (encoder input [batch, T, inputSize]); or give vocabSize + embeddingDim */
  inputSize?: number;
  /** token input: ids 0 … vocabSize-1 (encoder input [batch, T]), embedded by a LookupTable */
  vocabSize?: number;
  embeddingDim?: number;
  /** LSTM hidden size */
  hiddenSize: number;
  /** size of each output step: a Linear(hiddenSize, outputSize) applied to every decoder step */
  outputSize: number;
  /** stacked LSTM layers in the encoder and (teacher forcing) the decoder (default 1) */
  numLayers?: number;
  /**
   * How the decoder gets its inputs (BigDL's DecoderInputType):
   * 'teacher' (ENCODERINPUTSPLIT, default): input is the table [encoderInput, decoderInput]; the
   *   decoder is a stack of Recurrent(LSTM) run over decoderInput (teacher forcing), decoder layer
   *   k starting from encoder layer k's final state.
   * 'feedback' (ENCODERINPUTLASTTIME): input is the encoder input alone; a RecurrentDecoder
   *   started from the (last) encoder layer's final state is fed the encoder input's last step
   *   (through a Linear to hiddenSize when the sizes differ) and then its own outputs, for
   *   outputLength steps. One layer only.
   */
  decoderInput?: 'teacher' | 'feedback';
  /** decoder steps in 'feedback' mode */
  outputLength?: number;
  /** end with LogSoftMax over outputSize (token outputs: train with TimeDistributedCriterion(ClassNLLCriterion)); default false */
  logSoftMax?: boolean;
}

/**
 * LSTM encoder-decoder following BigDL's nn.Seq2seq: an encoder stack (optional preEncoder:
 * the embedding), a decoder stack (optional preDecoder), the encoder's final states handed to
 * the decoder with setHiddenState, and in backward the decoder's gradient with respect to its
 * initial states handed back with setGradHiddenState; the encoder's output sequence itself
 * gets a zero gradient. A generator (TimeDistributed Linear, optionally LogSoftMax) maps the
 * decoder's hidden states to outputs: [batch, T_out, outputSize].
 *
 * Written as a Module here (BigDL's Seq2seq is one as well): a Graph cannot carry recurrent
 * states between layers, since they travel through setHiddenState/getGradHiddenState rather
 * than through the activity.
 */
export class Seq2seq extends Module<Activity, Tensor> {
  readonly encoderRecs: Recurrent[];
  readonly decoderRecs: (Recurrent | RecurrentDecoder)[];
  readonly preEncoder: Module | null;
  readonly preDecoder: Module | null;
  readonly generator: Module;
  readonly mode: 'teacher' | 'feedback';
  private readonly encoder: Sequential;
  private readonly decoder: Sequential;
  private zeroGrad = Tensor.empty([0]);
  private lastStep = Tensor.empty([0]);
  private gradStepInput = Tensor.empty([0]);
  private gradTable: Tensor[] = [];

  constructor(parts: { encoderRecs: Recurrent[]; decoderRecs: (Recurrent | RecurrentDecoder)[]; preEncoder?: Module | null; preDecoder?: Module | null; generator: Module; mode: 'teacher' | 'feedback' }) {
    super();
    this.encoderRecs = parts.encoderRecs;
    this.decoderRecs = parts.decoderRecs;
    this.preEncoder = parts.preEncoder ?? null;
    this.preDecoder = parts.preDecoder ?? null;
    this.generator = parts.generator;
    this.mode = parts.mode;
    if (this.encoderRecs.length === 0) throw new RangeError('Seq2seq: needs at least one encoder layer');
    if (this.mode === 'teacher' && this.decoderRecs.length !== this.encoderRecs.length) {
      throw new RangeError(`Seq2seq: teacher forcing pairs decoder layers with encoder layers; got ${this.encoderRecs.length} and ${this.decoderRecs.length}`);
    }
    if (this.mode === 'feedback' && (this.decoderRecs.length !== 1 || !(this.decoderRecs[0] instanceof RecurrentDecoder))) {
      throw new RangeError('Seq2seq: feedback mode needs exactly one RecurrentDecoder');
    }
    this.encoder = new Sequential().setName('encoder');
    for (const r of this.encoderRecs) this.encoder.add(r);
    this.decoder = new Sequential().setName('decoder');
    for (const r of this.decoderRecs) this.decoder.add(r);
    if (this.preEncoder) this.modules.push(this.preEncoder);
    this.modules.push(this.encoder);
    if (this.preDecoder) this.modules.push(this.preDecoder);
    this.modules.push(this.decoder, this.generator);
  }

  private split(input: Activity): [Tensor, Tensor | null] {
    if (this.mode === 'teacher') {
      if (!Array.isArray(input) || input.length !== 2 || !(input[0] instanceof Tensor) || !(input[1] instanceof Tensor)) {
        badInput(this, 'the table [encoderInput, decoderInput] (teacher forcing)', input);
      }
      return [input[0] as Tensor, input[1] as Tensor];
    }
    if (!(input instanceof Tensor)) badInput(this, 'the encoder input tensor (feedback mode)', input);
    return [input, null];
  }

  /** The decoder's raw input: the teacher-forced sequence, or the encoder input's last step. */
  private decoderSource(encIn: Tensor, decIn: Tensor | null): Tensor {
    if (decIn) return decIn;
    const x = this.preEncoder ? this.preEncoder.output : encIn;
    const last = x.select(1, x.shape[1] - 1);
    this.lastStep = ensureShape(this.lastStep, last.shape).copy_(last);
    return this.lastStep;
  }

  updateOutput(input: Activity): Tensor {
    const [encIn, decIn] = this.split(input);
    const encX = this.preEncoder ? this.preEncoder.forward(encIn) : encIn;
    this.encoder.forward(encX);
    if (this.mode === 'teacher') {
      this.encoderRecs.forEach((r, k) => this.decoderRecs[k].setHiddenState(r.getHiddenState()));
    } else {
      this.decoderRecs[0].setHiddenState(this.encoderRecs[this.encoderRecs.length - 1].getHiddenState());
    }
    const src = this.decoderSource(encIn, decIn);
    const decX = this.preDecoder ? this.preDecoder.forward(src) : src;
    this.output = this.generator.forward(this.decoder.forward(decX));
    return this.output;
  }

  private pass(input: Activity, gradOutput: Tensor, scale: number, mode: 'grad' | 'both' | 'params'): Activity {
    const [encIn, decIn] = this.split(input);
    const step = (m: Module<any, any>, x: Activity, g: Activity): Activity => {
      if (mode === 'both') return m.backward(x, g, scale);
      const gi = m.updateGradInput(x, g);
      if (mode === 'params') m.accGradParameters(x, g, scale);
      return gi;
    };
    const src = this.mode === 'teacher' ? decIn! : this.lastStep;
    const decX = this.preDecoder ? this.preDecoder.output : src;
    const gDec = step(this.decoder, decX, step(this.generator, this.decoder.output, gradOutput)) as Tensor;
    const gSrc = this.preDecoder ? (step(this.preDecoder, src, gDec) as Tensor) : gDec;
    // the decoder's initial states came from the encoder's final states
    if (this.mode === 'teacher') {
      this.encoderRecs.forEach((r, k) => r.setGradHiddenState(this.decoderRecs[k].getGradHiddenState()));
    } else {
      this.encoderRecs.forEach((r) => r.setGradHiddenState(null));
      this.encoderRecs[this.encoderRecs.length - 1].setGradHiddenState(this.decoderRecs[0].getGradHiddenState());
    }
    const encX = this.preEncoder ? this.preEncoder.output : encIn;
    this.zeroGrad = ensureShape(this.zeroGrad, this.encoder.output.shape);
    let gEnc = step(this.encoder, encX, this.zeroGrad) as Tensor;
    if (this.mode === 'feedback') {
      // the decoder's first input was the encoder input's last step: add its gradient there
      const gx = gEnc;
      this.gradStepInput = ensureShape(this.gradStepInput, gx.shape).copy_(gx);
      const lastSlot = this.gradStepInput.select(1, gx.shape[1] - 1);
      lastSlot.add_(gSrc);
      gEnc = this.gradStepInput;
    }
    const gIn = this.preEncoder ? (step(this.preEncoder, encIn, gEnc) as Tensor) : gEnc;
    if (this.mode === 'teacher') {
      const gDecIn = this.preDecoder ? gSrc : gDec;
      this.gradTable[0] = gIn;
      this.gradTable[1] = gDecIn;
      this.gradInput = this.gradTable;
    } else {
      this.gradInput = gIn;
    }
    return this.gradInput;
  }

  updateGradInput(input: Activity, gradOutput: Tensor): Activity {
    return this.pass(input, gradOutput, 0, 'grad');
  }

  override accGradParameters(input: Activity, gradOutput: Tensor, scale = 1): void {
    this.pass(input, gradOutput, scale, 'params');
  }

  override backward(input: Activity, gradOutput: Tensor, scale = 1): Activity {
    return this.pass(input, gradOutput, scale, 'both');
  }

  /** The encoder's final state of layer k (default: the last layer), from the last forward. */
  encoderState(k = this.encoderRecs.length - 1): HiddenState {
    return this.encoderRecs[k].getHiddenState();
  }
}

/**
 * Builds a Seq2seq of LSTMs (see Seq2seqOptions). Real-valued sequences: `{ inputSize, hiddenSize,
 * outputSize }`, encoder input [batch, T_in, inputSize] and (teacher forcing) decoder input
 * [batch, T_out, outputSize] (e.g. the target shifted by one step). Tokens: `{ vocabSize,
 * embeddingDim, hiddenSize, outputSize: vocabSize, logSoftMax: true }`, inputs [batch, T] of ids;
 * the encoder and the decoder have their own embedding tables.
 */
export function Seq2seqLSTM(opts: Seq2seqOptions): Seq2seq {
  const { hiddenSize, outputSize } = opts;
  const numLayers = opts.numLayers ?? 1;
  const mode = opts.decoderInput ?? 'teacher';
  for (const [k, v] of Object.entries({ hiddenSize, outputSize, numLayers })) requirePositiveInt('Seq2seq', k, v);
  const tokens = opts.vocabSize !== undefined;
  if (tokens === (opts.inputSize !== undefined)) throw new RangeError('Seq2seq: give either inputSize (real-valued steps) or vocabSize + embeddingDim (tokens)');
  let stepSize: number;
  let preEncoder: Module | null = null;
  if (tokens) {
    requirePositiveInt('Seq2seq', 'vocabSize', opts.vocabSize);
    requirePositiveInt('Seq2seq', 'embeddingDim', opts.embeddingDim);
    stepSize = opts.embeddingDim;
    preEncoder = new LookupTable(opts.vocabSize, opts.embeddingDim).setName('encoderEmbedding');
  } else {
    requirePositiveInt('Seq2seq', 'inputSize', opts.inputSize);
    stepSize = opts.inputSize;
  }
  const encoderRecs: Recurrent[] = [];
  for (let k = 0; k < numLayers; k++) encoderRecs.push(new Recurrent().add(new LSTM(k === 0 ? stepSize : hiddenSize, hiddenSize)).setName(`encoder${k}`));

  let decoderRecs: (Recurrent | RecurrentDecoder)[];
  let preDecoder: Module | null = null;
  if (mode === 'teacher') {
    // teacher forcing: the decoder reads target-side steps (tokens through their own table)
    let decStep = outputSize;
    if (tokens) {
      preDecoder = new LookupTable(outputSize, opts.embeddingDim!).setName('decoderEmbedding');
      decStep = opts.embeddingDim!;
    }
    decoderRecs = [];
    for (let k = 0; k < numLayers; k++) decoderRecs.push(new Recurrent().add(new LSTM(k === 0 ? decStep : hiddenSize, hiddenSize)).setName(`decoder${k}`));
  } else if (mode === 'feedback') {
    if (numLayers !== 1) throw new RangeError('Seq2seq: feedback mode (RecurrentDecoder) supports one layer');
    requirePositiveInt('Seq2seq', 'outputLength', opts.outputLength);
    if (stepSize !== hiddenSize) preDecoder = new Linear(stepSize, hiddenSize).setName('bridge');
    decoderRecs = [new RecurrentDecoder(opts.outputLength).add(new LSTM(hiddenSize, hiddenSize)).setName('decoder')];
  } else {
    throw new RangeError(`Seq2seq: decoderInput must be 'teacher' or 'feedback', got ${String(mode)}`);
  }
  const generator = new Sequential().setName('generator').add(new TimeDistributed(new Linear(hiddenSize, outputSize)));
  if (opts.logSoftMax) generator.add(new LogSoftMax(-1));
  return new Seq2seq({ encoderRecs, decoderRecs, preEncoder, preDecoder, generator, mode }).setName('Seq2seq');
}
