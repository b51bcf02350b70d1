// LSTM, GRU and the embedding lookup against PyTorch CPU on committed fixtures
// (scripts/gen-torch-fixtures.py: nn.LSTM/nn.GRU with batch_first=True, nn.Embedding with padding_idx).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { Tensor } from '../../src/tensor/tensor.js';
import type { Module } from '../../src/nn/module.js';
import { LookupTable } from '../../src/nn/lookup-table.js';
import { GRU, LSTM, Recurrent, type Cell } from '../../src/nn/recurrent/index.js';
import { assertTensorClose, backendsUnderTest } from '../helpers.js';
import { torchFixture, type TorchFixture } from '../fixtures/load.js';

/**
 * Loads the fixture's parameters into the module (names prefixed by `prefix`, e.g. the cell's
 * '0.' inside Recurrent), runs forward/backward, compares output, gradInput and parameter grads.
 */
function checkModule(f: TorchFixture, m: Module, prefix: string, tol = 1e-4, input: Tensor = f.inputs.input, checkGradInput = true): void {
  const named = new Map(m.namedParameters().map((p) => [p.name, p]));
  for (const [k, v] of Object.entries(f.params)) {
    const p = named.get(prefix + k);
    if (!p) throw new Error(`${f.name}: module has no parameter ${prefix + k} (has ${[...named.keys()]})`);
    p.weight.copy_(v);
  }
  m.zeroGradParameters();
  const y = m.forward(input);
  assertTensorClose(y, f.outputs.output, `${f.name} output`, tol, tol);
  const gx = m.backward(input, f.outputs.gradOutput);
  if (checkGradInput) assertTensorClose(gx, f.grads.input, `${f.name} gradInput`, tol, tol);
  for (const k of Object.keys(f.params)) assertTensorClose(named.get(prefix + k)!.gradient, f.grads[k], `${f.name} grad ${k}`, tol, tol);
}

/** Runs a cell step by step through its one-step Module API and compares with the fixture. */
function checkStepByStep(f: TorchFixture, cell: Cell<any>, tol = 1e-4): void {
  const named = new Map(cell.namedParameters().map((p) => [p.name, p]));
  for (const [k, v] of Object.entries(f.params)) named.get(k)!.weight.copy_(v);
  cell.zeroGradParameters();
  const x = f.inputs.input, [B, T] = x.shape;
  const inputs: Tensor[][] = [];
  let state: Tensor[] | null = null;
  const outputs: Tensor[] = [];
  // forward: keep copies of every step's input table (the cell reuses its buffers)
  for (let t = 0; t < T; t++) {
    const table: Tensor[] = [x.select(1, t).clone(), ...(state ?? [])];
    inputs.push(table);
    const out: Tensor[] = cell.forward(table).map((s: Tensor) => s.clone());
    outputs.push(out[0]);
    state = out;
  }
  const y = Tensor.zeros([B, T, outputs[0].shape[1]]);
  outputs.forEach((h, t) => y.select(1, t).copy_(h));
  assertTensorClose(y, f.outputs.output, `${f.name} step-by-step output`, tol, tol);
  // backward: re-run each step's forward (the step API keeps one step), chain state gradients
  const gx = Tensor.zeros(x.shape);
  let gState: Tensor[] | null = null;
  for (let t = T - 1; t >= 0; t--) {
    cell.forward(inputs[t]);
    const gy = f.outputs.gradOutput.select(1, t).clone();
    const gOut: Tensor[] = gState ? gState.map((g, k) => (k === 0 ? g.add(gy) : g)) : cell.output.map((s, k) => (k === 0 ? gy : Tensor.zeros(s.shape)));
    const gIn = cell.backward(inputs[t], gOut);
    gx.select(1, t).copy_(gIn[0]);
    gState = gIn.slice(1).map((g) => g.clone());
  }
  assertTensorClose(gx, f.grads.input, `${f.name} step-by-step gradInput`, tol, tol);
  for (const k of Object.keys(f.params)) assertTensorClose(named.get(k)!.gradient, f.grads[k], `${f.name} step-by-step grad ${k}`, tol, tol);
}

for (const name of backendsUnderTest()) {
  describe(`PyTorch parity of recurrent layers on ${name}`, () => {
    it('LSTM in Recurrent (nn.LSTM, batch_first)', () => {
      setBackend(name);
      const f = torchFixture('lstm');
      checkModule(f, new Recurrent().add(new LSTM(f.args.input, f.args.hidden)), '0.');
    });

    it('GRU in Recurrent (nn.GRU, batch_first)', () => {
      setBackend(name);
      const f = torchFixture('gru');
      checkModule(f, new Recurrent().add(new GRU(f.args.input, f.args.hidden)), '0.');
    });

    it('LSTM and GRU on a strided (non-contiguous) input', () => {
      setBackend(name);
      for (const [fx, make] of [['lstm', (i: number, h: number) => new LSTM(i, h)], ['gru', (i: number, h: number) => new GRU(i, h)]] as const) {
        const f = torchFixture(fx);
        const [B, T, I] = f.inputs.input.shape;
        // the same values seen through a permuted view of a [T, B, I] buffer
        const tb = Tensor.zeros([T, B, I]);
        tb.permute(1, 0, 2).copy_(f.inputs.input);
        const strided = tb.permute(1, 0, 2);
        assert.ok(!strided.isContiguous());
        checkModule(f, new Recurrent().add(make(f.args.input, f.args.hidden)), '0.', 1e-4, strided);
      }
    });

    it('LSTM and GRU cells stepped one time step at a time', () => {
      setBackend(name);
      const l = torchFixture('lstm'), g = torchFixture('gru');
      checkStepByStep(l, new LSTM(l.args.input, l.args.hidden));
      checkStepByStep(g, new GRU(g.args.input, g.args.hidden));
    });

    it('LookupTable (nn.Embedding with padding_idx), float and int32 indices', () => {
      setBackend(name);
      const f = torchFixture('lookup_table');
      const a = f.args;
      checkModule(f, new LookupTable(a.nIndex, a.nOutput, { paddingValue: a.paddingIdx }), '', 1e-6, f.inputs.input, false);
      const asInt = f.inputs.input.to('int32');
      checkModule(f, new LookupTable(a.nIndex, a.nOutput, { paddingValue: a.paddingIdx }), '', 1e-6, asInt, false);
    });
  });
}
