// Recurrent cells and containers: gradients, values against independent definitions, state API,
// bad input, buffer reuse.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator, RNG } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Module } from '../../src/nn/module.js';
import { Linear } from '../../src/nn/linear.js';
import { ReLU, Sigmoid, Tanh } from '../../src/nn/activations.js';
import { Sequential } from '../../src/nn/sequential.js';
import { LookupTable } from '../../src/nn/lookup-table.js';
import {
  BiRecurrent, ConvLSTMPeephole, GRU, LSTM, LSTMPeephole, Recurrent, RecurrentDecoder, RnnCell, TimeDistributed, type Cell,
} from '../../src/nn/recurrent/index.js';
import { assertClose, assertTensorClose, backendsUnderTest } from '../helpers.js';
import { checkModuleGradients } from './gradcheck.js';

const randn = (shape: number[], rng: RandomGenerator, std = 1) => Tensor.randn(shape, 0, std, rng);

/** A parameter-free pointwise module the cells have no fused path for: x / (1 + |x|). */
class Softsign extends Module {
  updateOutput(x: Tensor): Tensor {
    this.output = x.div(x.abs().add(1));
    return this.output;
  }
  updateGradInput(x: Tensor, gy: Tensor): Tensor {
    const d = x.abs().add(1);
    this.gradInput = gy.div(d.mul(d));
    return this.gradInput;
  }
}

/**
 * [x, ...initial state] -> [output, ...final state] around a Recurrent or RecurrentDecoder, so
 * the gradient checker also covers setHiddenState/getGradHiddenState/setGradHiddenState.
 */
class WithState extends Module<Tensor[], Tensor[]> {
  constructor(readonly rec: Recurrent | RecurrentDecoder) {
    super();
    this.modules.push(rec);
  }
  updateOutput(input: Tensor[]): Tensor[] {
    const [x, ...s] = input;
    this.rec.setHiddenState(s.length === 1 ? s[0] : s);
    const y = this.rec.forward(x);
    const fin = this.rec.getHiddenState();
    this.output = [y, ...(fin instanceof Tensor ? [fin] : fin)];
    return this.output;
  }
  updateGradInput(input: Tensor[], gradOutput: Tensor[]): Tensor[] {
    const [gy, ...gFinal] = gradOutput;
    this.rec.setGradHiddenState(gFinal.length === 1 ? gFinal[0] : gFinal);
    const gx = this.rec.updateGradInput(input[0], gy);
    const gs = this.rec.getGradHiddenState();
    this.gradInput = [gx, ...(gs instanceof Tensor ? [gs] : gs)];
    return this.gradInput;
  }
  override accGradParameters(input: Tensor[], gradOutput: Tensor[], scale = 1): void {
    this.rec.accGradParameters(input[0], gradOutput[0], scale);
  }
}

/** Copies every parameter of `from` into `to` (same architecture). */
function copyParams(from: Module<any, any>, to: Module<any, any>): void {
  const src = from.parameters().weights, dst = to.parameters().weights;
  assert.equal(src.length, dst.length);
  dst.forEach((w, i) => w.copy_(src[i]));
}

/** x reversed along time (dim 1), as a fresh tensor. */
function flipTime(x: Tensor): Tensor {
  const out = Tensor.zeros(x.shape);
  const T = x.shape[1];
  for (let t = 0; t < T; t++) out.select(1, t).copy_(x.select(1, T - 1 - t));
  return out;
}

// ---- independent definitions in plain arrays ---------------------------------------------------

const sig = (v: number) => 1 / (1 + Math.exp(-v));

/** [rows, cols] row-major matrix times vector */
function matvec(w: number[], rows: number, cols: number, v: number[]): number[] {
  const out = new Array<number>(rows).fill(0);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r] += w[r * cols + c] * v[c];
  return out;
}

/** LSTM with optional peepholes [3, H] on x [B, T, I], zero initial state; returns h [B, T, H] flat. */
function refLSTM(x: Tensor, p: Record<string, Tensor>, H: number, peep: boolean): number[] {
  const [B, T, I] = x.shape, xs = x.toArray();
  const wih = p.weightIH.toArray(), whh = p.weightHH.toArray(), bih = p.biasIH.toArray(), bhh = p.biasHH.toArray();
  const P = peep ? p.peephole.toArray() : new Array<number>(3 * H).fill(0);
  const out = new Array<number>(B * T * H).fill(0);
  for (let b = 0; b < B; b++) {
    let h = new Array<number>(H).fill(0), c = new Array<number>(H).fill(0);
    for (let t = 0; t < T; t++) {
      const xt = xs.slice((b * T + t) * I, (b * T + t + 1) * I);
      const a = matvec(wih, 4 * H, I, xt), u = matvec(whh, 4 * H, H, h);
      const z = a.map((v, k) => v + u[k] + bih[k] + bhh[k]);
      const c2 = new Array<number>(H), h2 = new Array<number>(H);
      for (let j = 0; j < H; j++) {
        const i = sig(z[j] + P[j] * c[j]), f = sig(z[H + j] + P[H + j] * c[j]), g = Math.tanh(z[2 * H + j]);
        c2[j] = f * c[j] + i * g;
        const o = sig(z[3 * H + j] + P[2 * H + j] * c2[j]);
        h2[j] = o * Math.tanh(c2[j]);
      }
      h = h2;
      c = c2;
      for (let j = 0; j < H; j++) out[(b * T + t) * H + j] = h[j];
    }
  }
  return out;
}

/** Elman RNN with an activation function, zero initial state. */
function refRNN(x: Tensor, cell: RnnCell, act: (v: number) => number): number[] {
  const [B, T, I] = x.shape, H = cell.hiddenSize, xs = x.toArray();
  const wih = cell.weightIH.weight.toArray(), whh = cell.weightHH.weight.toArray();
  const bih = cell.biasIH.weight.toArray(), bhh = cell.biasHH.weight.toArray();
  const out = new Array<number>(B * T * H).fill(0);
  for (let b = 0; b < B; b++) {
    let h = new Array<number>(H).fill(0);
    for (let t = 0; t < T; t++) {
      const a = matvec(wih, H, I, xs.slice((b * T + t) * I, (b * T + t + 1) * I)), u = matvec(whh, H, H, h);
      h = a.map((v, k) => act(v + u[k] + bih[k] + bhh[k]));
      for (let j = 0; j < H; j++) out[(b * T + t) * H + j] = h[j];
    }
  }
  return out;
}

for (const name of backendsUnderTest()) {
  describe(`recurrent layers on ${name}`, () => {
    it('finite-difference gradients: every cell inside Recurrent', () => {
      setBackend(name);
      RNG.setSeed(11);
      const rng = new RandomGenerator(12);
      const x = randn([2, 4, 3], rng);
      checkModuleGradients('RnnCell tanh', new Recurrent().add(new RnnCell(3, 4)), x);
      checkModuleGradients('RnnCell sigmoid', new Recurrent().add(new RnnCell(3, 4, new Sigmoid())), x);
      checkModuleGradients('RnnCell generic activation', new Recurrent().add(new RnnCell(3, 4, new Softsign())), x);
      checkModuleGradients('LSTM', new Recurrent().add(new LSTM(3, 5)), x);
      checkModuleGradients('LSTMPeephole', new Recurrent().add(new LSTMPeephole(3, 5)), x);
      checkModuleGradients('GRU', new Recurrent().add(new GRU(3, 5)), x);
      checkModuleGradients('LSTM reversed', new Recurrent({ reverse: true }).add(new LSTM(3, 4)), x);
      checkModuleGradients('GRU one step', new Recurrent().add(new GRU(3, 2)), randn([3, 1, 3], rng));
    });

    it('finite-difference gradients: ReLU RNN away from the kink', () => {
      setBackend(name);
      RNG.setSeed(13);
      const cell = new RnnCell(2, 3, new ReLU());
      // positive weights and inputs keep every pre-activation well above 0
      for (const w of cell.parameters().weights) w.uniform_(0.1, 0.5);
      checkModuleGradients('RnnCell relu', new Recurrent().add(cell), Tensor.rand([2, 3, 2], 0.5, 1, new RandomGenerator(14)));
    });

    it('finite-difference gradients: initial and final states (setHiddenState, getGradHiddenState, setGradHiddenState)', () => {
      setBackend(name);
      RNG.setSeed(15);
      const rng = new RandomGenerator(16);
      const x = randn([2, 3, 3], rng);
      checkModuleGradients('LSTM with state', new WithState(new Recurrent().add(new LSTM(3, 4))), [x, randn([2, 4], rng), randn([2, 4], rng)]);
      checkModuleGradients('LSTMPeephole reversed with state', new WithState(new Recurrent({ reverse: true }).add(new LSTMPeephole(3, 4))),
        [x, randn([2, 4], rng), randn([2, 4], rng)]);
      checkModuleGradients('GRU with state', new WithState(new Recurrent().add(new GRU(3, 4))), [x, randn([2, 4], rng)]);
      checkModuleGradients('RnnCell with state', new WithState(new Recurrent().add(new RnnCell(3, 4))), [x, randn([2, 4], rng)]);
      checkModuleGradients('decoder LSTM with state', new WithState(new RecurrentDecoder(3).add(new LSTM(4, 4))),
        [randn([2, 4], rng), randn([2, 4], rng), randn([2, 4], rng)]);
    });

    it('finite-difference gradients: BiRecurrent, TimeDistributed, RecurrentDecoder', () => {
      setBackend(name);
      RNG.setSeed(17);
      const rng = new RandomGenerator(18);
      const x = randn([2, 3, 3], rng);
      checkModuleGradients('BiRecurrent LSTM add', new BiRecurrent().add(new LSTM(3, 4)), x);
      checkModuleGradients('BiRecurrent GRU concat', new BiRecurrent('concat').add(new GRU(3, 4)), x);
      checkModuleGradients('TimeDistributed Linear', new TimeDistributed(new Linear(3, 2)), x);
      checkModuleGradients('TimeDistributed MLP', new TimeDistributed(new Sequential().add(new Linear(3, 4)).add(new Tanh())), x);
      checkModuleGradients('TimeDistributed on 4-d', new TimeDistributed(new Tanh()), randn([2, 3, 2, 2], rng));
      checkModuleGradients('RecurrentDecoder LSTM', new RecurrentDecoder(4).add(new LSTM(3, 3)), randn([2, 3], rng));
      checkModuleGradients('RecurrentDecoder GRU', new RecurrentDecoder(3).add(new GRU(4, 4)), randn([3, 4], rng));
      checkModuleGradients('RecurrentDecoder RnnCell', new RecurrentDecoder(3).add(new RnnCell(2, 2)), randn([2, 2], rng));
      checkModuleGradients('RecurrentDecoder LSTMPeephole', new RecurrentDecoder(3).add(new LSTMPeephole(3, 3)), randn([2, 3], rng));
      const model = new Sequential().add(new Recurrent().add(new LSTM(3, 4))).add(new TimeDistributed(new Linear(4, 2)));
      checkModuleGradients('Recurrent -> TimeDistributed', model, x);
    });

    it('finite-difference gradients: ConvLSTMPeephole (Recurrent, stride 2, no peephole, decoder, BiRecurrent)', () => {
      setBackend(name);
      RNG.setSeed(19);
      const rng = new RandomGenerator(20);
      const x = randn([2, 3, 2, 4, 3], rng);
      checkModuleGradients('ConvLSTMPeephole', new Recurrent().add(new ConvLSTMPeephole(2, 3, 3, 3)), x);
      checkModuleGradients('ConvLSTMPeephole kernelC 1, stride 2', new Recurrent().add(new ConvLSTMPeephole(2, 2, 3, 1, 2)), x);
      checkModuleGradients('ConvLSTM without peephole', new Recurrent().add(new ConvLSTMPeephole(2, 2, 1, 3, 1, { withPeephole: false })), x);
      checkModuleGradients('ConvLSTMPeephole decoder', new RecurrentDecoder(3).add(new ConvLSTMPeephole(2, 2, 3, 3)), randn([2, 2, 3, 3], rng));
      checkModuleGradients('ConvLSTMPeephole BiRecurrent concat', new BiRecurrent('concat').add(new ConvLSTMPeephole(2, 2, 3, 3)), x);
    });

    it('finite-difference gradients: one step through the cell API ([x, ...state] -> [h, ...state])', () => {
      setBackend(name);
      RNG.setSeed(21);
      const rng = new RandomGenerator(22);
      const x = randn([3, 4], rng), h = randn([3, 5], rng), c = randn([3, 5], rng);
      checkModuleGradients('LSTM step', new LSTM(4, 5), [x, h, c]);
      checkModuleGradients('LSTMPeephole step', new LSTMPeephole(4, 5), [x, h, c]);
      checkModuleGradients('GRU step', new GRU(4, 5), [x, h]);
      checkModuleGradients('RnnCell step', new RnnCell(4, 5), [x, h]);
      checkModuleGradients('GRU step from zeros', new GRU(4, 5), [x]);
      checkModuleGradients('ConvLSTMPeephole step', new ConvLSTMPeephole(2, 3, 3, 3), [randn([2, 2, 3, 4], rng), randn([2, 3, 3, 4], rng), randn([2, 3, 3, 4], rng)]);
    });

    it('LSTMPeephole and RnnCell match definitions written out in plain arithmetic', () => {
      setBackend(name);
      RNG.setSeed(23);
      const rng = new RandomGenerator(24);
      const x = randn([3, 4, 3], rng);
      const lp = new LSTMPeephole(3, 4);
      const params = Object.fromEntries(lp.namedParameters().map((p) => [p.name, p.weight]));
      assertClose(new Recurrent().add(lp).forward(x).toArray(), refLSTM(x, params, 4, true), 'LSTMPeephole', 1e-4, 1e-5);
      const l = new LSTM(3, 4);
      const lparams = Object.fromEntries(l.namedParameters().map((p) => [p.name, p.weight]));
      assertClose(new Recurrent().add(l).forward(x).toArray(), refLSTM(x, lparams, 4, false), 'LSTM', 1e-4, 1e-5);
      for (const [act, f] of [[new Tanh(), Math.tanh], [new Sigmoid(), sig], [new ReLU(), (v: number) => Math.max(0, v)],
        [new Softsign(), (v: number) => v / (1 + Math.abs(v))]] as const) {
        const cell = new RnnCell(3, 5, act);
        assertClose(new Recurrent().add(cell).forward(x).toArray(), refRNN(x, cell, f), `RnnCell ${act.getName()}`, 1e-4, 1e-5);
      }
    });

    it('ConvLSTMPeephole with 1x1 kernels is LSTMPeephole applied at every pixel', () => {
      setBackend(name);
      RNG.setSeed(25);
      const rng = new RandomGenerator(26);
      const [B, T, C, Hh, W, O] = [2, 3, 3, 2, 3, 4];
      const conv = new ConvLSTMPeephole(C, O, 1, 1);
      const dense = new LSTMPeephole(C, O);
      dense.weightIH.weight.copy_(conv.weightIH.weight.view(4 * O, C));
      dense.weightHH.weight.copy_(conv.weightHH.weight.view(4 * O, O));
      dense.biasIH.weight.copy_(conv.bias.weight);
      dense.biasHH.weight.zero_();
      dense.peephole.weight.copy_(conv.peephole!.weight);
      const x = randn([B, T, C, Hh, W], rng);
      const y = new Recurrent().add(conv).forward(x);
      assert.deepEqual(y.shape, [B, T, O, Hh, W]);
      // pixels into the batch: [B, T, C, H, W] -> [B*H*W, T, C]
      const xd = x.permute(0, 3, 4, 1, 2).reshape(B * Hh * W, T, C);
      const yd = new Recurrent().add(dense).forward(xd);
      assertTensorClose(y.permute(0, 3, 4, 1, 2).reshape(B * Hh * W, T, O), yd, 'ConvLSTM vs per-pixel LSTM', 1e-4, 1e-5);
    });

    it('BiRecurrent halves equal a forward Recurrent and a Recurrent over the time-flipped input', () => {
      setBackend(name);
      RNG.setSeed(27);
      const rng = new RandomGenerator(28);
      const x = randn([2, 5, 3], rng);
      const bi = new BiRecurrent('concat').add(new GRU(3, 4));
      const y = bi.forward(x);
      assert.deepEqual(y.shape, [2, 5, 8]);
      const [fwdLayer, bwdLayer] = bi.children() as Recurrent[];
      const fwd = new Recurrent().add(new GRU(3, 4));
      copyParams(fwdLayer, fwd);
      const back = new Recurrent().add(new GRU(3, 4));
      copyParams(bwdLayer, back);
      assertTensorClose(y.narrow(2, 0, 4), fwd.forward(x), 'forward half', 1e-5, 1e-6);
      assertTensorClose(y.narrow(2, 4, 4), flipTime(back.forward(flipTime(x))), 'backward half', 1e-5, 1e-6);
      // the two directions are initialised independently
      assert.notDeepEqual(fwdLayer.parameters().weights[0].toArray(), bwdLayer.parameters().weights[0].toArray());
      // add merge: the sum of the halves
      const sum = new BiRecurrent().add(new GRU(3, 4));
      copyParams(bi, sum);
      assertTensorClose(sum.forward(x), y.narrow(2, 0, 4).add(y.narrow(2, 4, 4)), 'add merge', 1e-5, 1e-6);
      // and gradients of the reversed direction match the flipped forward run
      const gy = randn([2, 5, 4], rng);
      bwdLayer.zeroGradParameters();
      back.zeroGradParameters();
      const gx = bwdLayer.backward(x, gy).clone();
      const gxFlip = back.backward(flipTime(x), flipTime(gy));
      assertTensorClose(gx, flipTime(gxFlip), 'reversed gradInput', 1e-5, 1e-6);
      bwdLayer.parameters().gradients.forEach((g, i) => assertTensorClose(g, back.parameters().gradients[i], `reversed grad ${i}`, 1e-4, 1e-6));
    });

    it('RecurrentDecoder equals stepping the cell and feeding its output back', () => {
      setBackend(name);
      RNG.setSeed(29);
      const rng = new RandomGenerator(30);
      const cell = new LSTM(4, 4);
      const dec = new RecurrentDecoder(5).add(cell);
      const x0 = randn([3, 4], rng), h0 = randn([3, 4], rng), c0 = randn([3, 4], rng);
      const y = dec.setHiddenState([h0, c0]).forward(x0).clone();
      assert.deepEqual(y.shape, [3, 5, 4]);
      const stepper = new LSTM(4, 4);
      copyParams(cell, stepper);
      let input = x0, state = [h0, c0];
      for (let t = 0; t < 5; t++) {
        const out = stepper.forward([input, ...state]).map((s: Tensor) => s.clone());
        assertTensorClose(y.select(1, t), out[0], `step ${t}`, 1e-5, 1e-6);
        input = out[0];
        state = out;
      }
      const fin = dec.getHiddenState() as Tensor[];
      assertTensorClose(fin[0], state[0], 'final h', 1e-5, 1e-6);
      assertTensorClose(fin[1], state[1], 'final c', 1e-5, 1e-6);
    });

    it('TimeDistributed equals the module applied to every step', () => {
      setBackend(name);
      const rng = new RandomGenerator(31);
      const lin = new Linear(3, 2);
      const td = new TimeDistributed(lin);
      const x = randn([2, 4, 3], rng);
      const y = td.forward(x);
      assert.deepEqual(y.shape, [2, 4, 2]);
      const ref = new Linear(3, 2);
      copyParams(lin, ref);
      for (let t = 0; t < 4; t++) assertTensorClose(y.select(1, t), ref.forward(x.select(1, t).clone()), `step ${t}`, 1e-6, 1e-6);
      // a strided input goes through a copy
      const strided = x.permute(1, 0, 2).contiguous().permute(1, 0, 2);
      assertTensorClose(td.forward(strided), y.clone(), 'strided input', 1e-6, 1e-6);
    });

    it('a sequence in two chunks with the state carried over equals one run', () => {
      setBackend(name);
      RNG.setSeed(32);
      const rng = new RandomGenerator(33);
      const x = randn([2, 6, 3], rng);
      const whole = new Recurrent().add(new LSTM(3, 4));
      const y = whole.forward(x).clone();
      const chunked = new Recurrent().add(new LSTM(3, 4));
      copyParams(whole, chunked);
      const a = chunked.forward(x.narrow(1, 0, 3).contiguous()).clone();
      // the state tensors are views into the layer's buffers; setHiddenState takes a copy
      chunked.setHiddenState(chunked.getHiddenState());
      const b = chunked.forward(x.narrow(1, 3, 3).contiguous());
      assertTensorClose(a, y.narrow(1, 0, 3), 'first chunk', 1e-6, 1e-6);
      assertTensorClose(b, y.narrow(1, 3, 3), 'second chunk', 1e-5, 1e-6);
      // the backward of the second chunk still sees the carried-over state
      checkModuleGradients('second chunk', chunked, x.narrow(1, 3, 3).contiguous());
    });

    it('bad input names the layer', () => {
      setBackend(name);
      const rec = new Recurrent().add(new LSTM(4, 3));
      assert.throws(() => rec.forward(Tensor.zeros([2, 5, 3])), /Recurrent: expected input \[batch, time, 4\] float32 for LSTM, got float32 \[2, 5, 3\]/);
      assert.throws(() => rec.forward(Tensor.zeros([2, 4])), /Recurrent: expected input/);
      assert.throws(() => rec.forward(Tensor.zeros([2, 5, 4], { dtype: 'int32' })), /Recurrent: expected input .* got int32/);
      rec.forward(Tensor.zeros([2, 5, 4]));
      assert.throws(() => rec.backward(Tensor.zeros([2, 5, 4]), Tensor.zeros([2, 5, 4])), /Recurrent: gradOutput \[2, 5, 4\] does not match the output \[2, 5, 3\]/);
      rec.setHiddenState([Tensor.zeros([2, 3])]);
      assert.throws(() => rec.forward(Tensor.zeros([2, 5, 4])), /Recurrent: the initial state \(setHiddenState\) must be a table of 2 tensors float32 \[2, 3\]/);
      rec.setHiddenState([Tensor.zeros([3, 3]), Tensor.zeros([3, 3])]);
      assert.throws(() => rec.forward(Tensor.zeros([2, 5, 4])), /Recurrent: the initial state/);
      assert.throws(() => new Recurrent().forward(Tensor.zeros([1, 1, 1])), /Recurrent: add a cell first/);
      assert.throws(() => new Recurrent().add(new GRU(2, 2)).add(new GRU(2, 2)), /Recurrent.add: the container already holds GRU/);
      assert.throws(() => new Recurrent().add(new Linear(2, 2) as unknown as Cell), /Recurrent.add: expected a recurrent cell/);
      assert.throws(() => new Recurrent().getHiddenState(), /Recurrent: add a cell first/);
      assert.throws(() => new Recurrent().add(new GRU(2, 2)).getHiddenState(), /Recurrent: getHiddenState needs a forward first/);
      assert.throws(() => new Recurrent().add(new GRU(2, 2)).backward(Tensor.zeros([1, 1, 2]), Tensor.zeros([1, 1, 2])), /Recurrent: gradOutput \[1, 1, 2\] does not match the output \[0\]/);
      assert.throws(() => new BiRecurrent('concat').add(new GRU(3, 2)).forward(Tensor.zeros([1, 2, 4])), /BiRecurrent: expected input \[batch, time, 3\]/);
      assert.throws(() => new BiRecurrent('mul' as 'add'), /BiRecurrent: merge must be 'add' or 'concat'/);
      assert.throws(() => new RecurrentDecoder(3).add(new LSTM(3, 4)).forward(Tensor.zeros([2, 3])), /RecurrentDecoder: LSTM maps \[2, 3\] to \[2, 4\]/);
      assert.throws(() => new RecurrentDecoder(3).add(new LSTM(4, 4)).forward(Tensor.zeros([2, 3])), /RecurrentDecoder: expected input \[batch, 4\]/);
      assert.throws(() => new RecurrentDecoder(0), /RecurrentDecoder: seqLength must be a positive integer/);
      assert.throws(() => new TimeDistributed(new Linear(3, 2)).forward(Tensor.zeros([3])), /TimeDistributed: expected input \[batch, time, \.\.\.\]/);
      assert.throws(() => new TimeDistributed(new Linear(3, 2)).forward(Tensor.zeros([2, 2, 4])), /Linear: expected input/);
      assert.throws(() => new Recurrent().add(new ConvLSTMPeephole(2, 3, 3, 3)).forward(Tensor.zeros([1, 2, 3, 4, 4])),
        /Recurrent: expected input \[batch, time, 2, H, W\] float32 for ConvLSTMPeephole/);
      assert.throws(() => new LSTM(4, 3).forward([Tensor.zeros([2, 5])]), /LSTM: expected input \[batch, 4\] float32/);
      assert.throws(() => new LSTM(4, 3).forward([Tensor.zeros([2, 4]), Tensor.zeros([2, 3])]), /LSTM: expected a table \[x\] or \[x, h, c\]/);
      assert.throws(() => new GRU(4, 3).forward([Tensor.zeros([2, 4]), Tensor.zeros([2, 4])]), /GRU: state 0 must be float32 \[2, 3\]/);
      assert.throws(() => new LSTM(0, 3), /LSTM: inputSize must be a positive integer/);
      assert.throws(() => new GRU(2, 1.5), /GRU: hiddenSize must be a positive integer/);
      assert.throws(() => new RnnCell(2, 2, new Linear(2, 2)), /RnnCell: the activation Linear must have no parameters/);
      assert.throws(() => new ConvLSTMPeephole(2, 2, 2, 3), /ConvLSTMPeephole: kernelI \(2\) and kernelC \(3\) must be odd/);
      assert.throws(() => new LSTMPeephole(2, 2).backward([Tensor.zeros([1, 2])], [Tensor.zeros([1, 2]), Tensor.zeros([1, 2])]), /LSTMPeephole: backward needs a forward first/);
    });

    it('reuses buffers: a second step with the same shapes returns the same objects', () => {
      setBackend(name);
      const rng = new RandomGenerator(34);
      const x = randn([3, 4, 2], rng);
      const step = (m: Module<any, any>, input: any, gy: any) => {
        m.forward(input);
        m.backward(input, gy);
        return { out: m.output, gi: m.gradInput };
      };
      const cases: [string, Module<any, any>, any, any][] = [
        ['Recurrent LSTM', new Recurrent().add(new LSTM(2, 3)), x, randn([3, 4, 3], rng)],
        ['Recurrent GRU', new Recurrent().add(new GRU(2, 3)), x, randn([3, 4, 3], rng)],
        ['BiRecurrent concat', new BiRecurrent('concat').add(new RnnCell(2, 3)), x, randn([3, 4, 6], rng)],
        ['TimeDistributed', new TimeDistributed(new Linear(2, 5)), x, randn([3, 4, 5], rng)],
        ['RecurrentDecoder', new RecurrentDecoder(4).add(new GRU(2, 2)), randn([3, 2], rng), randn([3, 4, 2], rng)],
        ['LSTM step', new LSTM(2, 3), [randn([3, 2], rng), randn([3, 3], rng), randn([3, 3], rng)], [randn([3, 3], rng), randn([3, 3], rng)]],
        ['ConvLSTMPeephole', new Recurrent().add(new ConvLSTMPeephole(1, 2, 3, 3)), randn([1, 2, 1, 3, 3], rng), randn([1, 2, 2, 3, 3], rng)],
      ];
      for (const [what, m, input, gy] of cases) {
        const first = step(m, input, gy);
        const outs = Array.isArray(first.out) ? [...first.out] : [first.out];
        const gis = Array.isArray(first.gi) ? [...first.gi] : [first.gi];
        const second = step(m, input, gy);
        assert.equal(second.out === first.out || (Array.isArray(second.out) && second.out.every((t: Tensor, i: number) => t === outs[i])), true, `${what}: output reallocated`);
        assert.equal(second.gi === first.gi || (Array.isArray(second.gi) && second.gi.every((t: Tensor, i: number) => t === gis[i])), true, `${what}: gradInput reallocated`);
      }
    });

    it('keeps the buffers of recently seen sequence lengths (bucketing)', () => {
      setBackend(name);
      const rng = new RandomGenerator(39);
      const rec = new Recurrent().add(new LSTM(2, 3));
      const x3 = randn([2, 3, 2], rng), x5 = randn([2, 5, 2], rng);
      const y3 = rec.forward(x3);
      const v3 = y3.clone();
      const y5 = rec.forward(x5);
      assert.notEqual(y5, y3);
      assert.equal(rec.forward(x3), y3, 'the T = 3 buffers come back');
      assertTensorClose(y3, v3, 'same values', 0, 0);
      rec.backward(x3, randn([2, 3, 3], rng));
      assert.deepEqual(rec.gradInput.shape, [2, 3, 2]);
      assert.equal(rec.forward(x5), y5);
    });

    it('accumulates parameter gradients (with scale) until zeroGradParameters; getParameters and clone work', () => {
      setBackend(name);
      RNG.setSeed(35);
      const rng = new RandomGenerator(36);
      const rec = new Recurrent().add(new LSTMPeephole(3, 4));
      const x = randn([2, 3, 3], rng), gy = randn([2, 3, 4], rng);
      rec.zeroGradParameters();
      rec.forward(x);
      rec.backward(x, gy);
      const once = rec.parameters().gradients.map((g) => g.toArray());
      rec.backward(x, gy, 0.5);
      rec.parameters().gradients.forEach((g, k) => assertClose(g.toArray(), once[k].map((v) => 1.5 * v), `grad ${k}`, 1e-5, 1e-6));
      assert.deepEqual(rec.namedParameters().map((p) => p.name), ['0.weightIH', '0.weightHH', '0.biasIH', '0.biasHH', '0.peephole']);
      const before = rec.forward(x).clone();
      const { weights, gradients } = rec.getParameters();
      assert.equal(weights.numel, 4 * 4 * 3 + 4 * 4 * 4 + 2 * 16 + 3 * 4);
      assertTensorClose(rec.forward(x), before, 'after compaction', 1e-6, 1e-7);
      gradients.zero_();
      rec.backward(x, gy);
      assert.ok(gradients.toArray().some((v) => v !== 0), 'backward writes the flat gradient buffer');
      const copy = rec.clone();
      assertTensorClose(copy.forward(x), rec.forward(x), 'clone', 1e-6, 1e-7);
      weights.zero_();
      assert.ok(rec.forward(x).toArray().every((v) => v === 0), 'the model reads the flat buffer');
      assert.ok(copy.forward(x).toArray().some((v) => v !== 0), 'the clone is independent');
    });

    it('works in a text classifier: LookupTable -> LSTM -> last step -> Linear', () => {
      setBackend(name);
      RNG.setSeed(37);
      const rng = new RandomGenerator(38);
      const idx = Tensor.from(Array.from({ length: 2 * 5 }, () => rng.randInt(20)), [2, 5], { dtype: 'int32' });
      const emb = new LookupTable(20, 6), rec = new Recurrent().add(new LSTM(6, 4)), lin = new Linear(4, 3);
      const e = emb.forward(idx), h = rec.forward(e);
      const last = h.select(1, 4).contiguous();
      const y = lin.forward(last);
      const gy = randn([2, 3], rng);
      const gLast = lin.backward(last, gy);
      const gh = Tensor.zeros(h.shape);
      gh.select(1, 4).copy_(gLast);
      const ge = rec.backward(e, gh);
      emb.backward(idx, ge);
      assert.deepEqual(y.shape, [2, 3]);
      assert.deepEqual(emb.touchedRows().length > 0, true);
      assert.ok(emb.weight.gradient.toArray().some((v) => v !== 0));
      assert.match(new Sequential().add(emb).add(rec).toString(), /LookupTable\(20 -> 6\).*\n.*Recurrent.*\n {4}LSTM\(6 -> 4\) \{weightIH\[16, 6\], weightHH\[16, 4\], biasIH\[16\], biasHH\[16\]\}/);
    });
  });
}
