// Outputs and gradients against PyTorch CPU on committed fixtures (scripts/gen-torch-fixtures.py).
import { describe, it } from 'node:test';
import { setBackend } from '../../src/backend/registry.js';
import { Tensor } from '../../src/tensor/tensor.js';
import type { Module } from '../../src/nn/module.js';
import { Linear } from '../../src/nn/linear.js';
import { SpatialConvolution } from '../../src/nn/conv.js';
import { SpatialAveragePooling, SpatialMaxPooling } from '../../src/nn/pooling.js';
import { BatchNormalization, SpatialBatchNormalization, SpatialCrossMapLRN } from '../../src/nn/normalization.js';
import { ClassNLLCriterion } from '../../src/nn/criterion.js';
import { assertTensorClose, backendsUnderTest } from '../helpers.js';
import { torchFixture, type TorchFixture } from '../fixtures/load.js';

/** Loads the fixture's parameters into the module (same layout), runs forward/backward, compares. */
function checkModule(f: TorchFixture, m: Module, tol = 1e-4): void {
  const named = new Map(m.namedParameters().map((p) => [p.name, p]));
  for (const [k, v] of Object.entries(f.params)) {
    const p = named.get(k);
    if (!p) throw new Error(`${f.name}: module has no parameter ${k} (has ${[...named.keys()]})`);
    p.weight.copy_(v);
  }
  m.zeroGradParameters();
  const x = f.inputs.input;
  const y = m.forward(x);
  assertTensorClose(y, f.outputs.output, `${f.name} output`, tol, tol);
  const gx = m.backward(x, f.outputs.gradOutput);
  assertTensorClose(gx, f.grads.input, `${f.name} gradInput`, tol, tol);
  for (const k of Object.keys(f.params)) assertTensorClose(named.get(k)!.gradient, f.grads[k], `${f.name} grad ${k}`, tol, tol);
}

for (const name of backendsUnderTest()) {
  describe(`PyTorch parity on ${name}`, () => {
    it('Linear', () => {
      setBackend(name);
      checkModule(torchFixture('linear'), new Linear(7, 5));
    });

    it('SpatialConvolution (stride, padding, non-square kernel; groups and dilation)', () => {
      setBackend(name);
      const a = torchFixture('conv2d').args;
      checkModule(torchFixture('conv2d'), new SpatialConvolution(a.in, a.out, a.kW, a.kH, a.dW, a.dH, a.padW, a.padH, a.groups));
      const b = torchFixture('conv2d_groups_dilation').args;
      checkModule(torchFixture('conv2d_groups_dilation'),
        new SpatialConvolution(b.in, b.out, b.kW, b.kH, b.dW, b.dH, b.padW, b.padH, b.groups, { dilationW: 2, dilationH: 2 }));
    });

    it('max pooling in ceil mode and average pooling with padding', () => {
      setBackend(name);
      checkModule(torchFixture('maxpool_ceil'), new SpatialMaxPooling(3, 3, 2, 2).ceil());
      checkModule(torchFixture('avgpool_pad'), new SpatialAveragePooling(3, 3, 2, 2, 1, 1));
    });

    it('SpatialCrossMapLRN', () => {
      setBackend(name);
      checkModule(torchFixture('lrn'), new SpatialCrossMapLRN(5, 1e-4, 0.75, 1));
    });

    it('batch normalisation: training (with running statistics) and evaluation', () => {
      setBackend(name);
      const f = torchFixture('batchnorm2d_train');
      const bn = new SpatialBatchNormalization(3);
      checkModule(f, bn);
      assertTensorClose(bn.runningMean, f.outputs.running_mean, 'running mean', 1e-5, 1e-5);
      assertTensorClose(bn.runningVar, f.outputs.running_var, 'running var (unbiased)', 1e-4, 1e-5);
      const e = torchFixture('batchnorm1d_eval');
      const bn1 = new BatchNormalization(5);
      bn1.runningMean = Tensor.from(e.args.runningMean);
      bn1.runningVar = Tensor.from(e.args.runningVar);
      checkModule(e, bn1.evaluate());
    });

    it('ClassNLLCriterion with class weights', () => {
      setBackend(name);
      const f = torchFixture('class_nll_weighted');
      const c = new ClassNLLCriterion({ weights: Tensor.from(f.args.weights) });
      const loss = c.forward(f.inputs.input, f.inputs.target);
      assertTensorClose(Tensor.from([loss]), f.outputs.loss, 'loss', 1e-5, 1e-6);
      assertTensorClose(c.backward(f.inputs.input, f.inputs.target), f.grads.input, 'gradInput', 1e-5, 1e-6);
    });
  });
}
