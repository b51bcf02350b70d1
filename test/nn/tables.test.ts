// Table layers: JoinTable, SplitTable, SelectTable, FlattenTable and the elementwise tables,
// checked by finite differences and against plain-JS definitions, with buffer reuse.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import type { Activity } from '../../src/nn/module.js';
import { Linear } from '../../src/nn/linear.js';
import { Sequential } from '../../src/nn/sequential.js';
import { ConcatTable } from '../../src/nn/containers.js';
import {
  CAddTable, CMaxTable, CMulTable, CSubTable, FlattenTable, JoinTable, SelectTable, SplitTable,
} from '../../src/nn/tables.js';
import { assertClose, backendsUnderTest } from '../helpers.js';
import { checkModuleGradients } from './gradcheck.js';

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Concatenation along d of row-major arrays, written out with index arithmetic. */
function refConcat(parts: Tensor[], d: number): number[] {
  const outer = prod(parts[0].shape.slice(0, d));
  const out: number[] = [];
  const flat = parts.map((p) => p.toArray());
  for (let o = 0; o < outer; o++) {
    parts.forEach((p, k) => {
      const chunk = p.shape[d] * prod(p.shape.slice(d + 1));
      out.push(...flat[k].slice(o * chunk, (o + 1) * chunk));
    });
  }
  return out;
}

/** Slice i of x along d (row-major), by index arithmetic. */
function refSelect(x: Tensor, d: number, i: number): number[] {
  const flat = x.toArray();
  const outer = prod(x.shape.slice(0, d)), n = x.shape[d], inner = prod(x.shape.slice(d + 1));
  const out: number[] = [];
  for (let o = 0; o < outer; o++) for (let j = 0; j < inner; j++) out.push(flat[(o * n + i) * inner + j]);
  return out;
}

/** Random tensors whose elements differ pairwise by at least `gap` at every position (no max ties). */
function separated(n: number, shape: number[], rng: RandomGenerator, gap = 0.1): Tensor[] {
  const size = prod(shape);
  const cols = Array.from({ length: n }, () => new Float32Array(size));
  for (let j = 0; j < size; j++) {
    const vals = Array.from({ length: n }, (_, k) => k * gap * 2 + rng.uniform(0, gap));
    for (let k = vals.length - 1; k > 0; k--) { const r = rng.randInt(k + 1); [vals[k], vals[r]] = [vals[r], vals[k]]; }
    vals.forEach((v, k) => { cols[k][j] = v - 0.5; });
  }
  return cols.map((c) => Tensor.from(c, shape));
}

for (const name of backendsUnderTest()) {
  describe(`table layers on ${name}`, () => {
    it('finite-difference gradients', () => {
      setBackend(name);
      const rng = new RandomGenerator(11);
      const r = (...s: number[]) => Tensor.randn(s, 0, 1, rng);
      checkModuleGradients('JoinTable(1)', new JoinTable(1), [r(2, 3), r(2, 4), r(2, 1)]);
      checkModuleGradients('JoinTable(-1) 3-d', new JoinTable(-1), [r(2, 2, 3), r(2, 2, 2)]);
      checkModuleGradients('JoinTable(0, 1) batch', new JoinTable(0, 1), [r(3, 2), r(3, 5)]);
      checkModuleGradients('SplitTable(1)', new SplitTable(1), r(3, 4, 2));
      checkModuleGradients('SplitTable(0, 1) batch', new SplitTable(0, 1), r(2, 3));
      checkModuleGradients('SplitTable(-1)', new SplitTable(-1), r(2, 3));
      checkModuleGradients('SelectTable(1)', new SelectTable(1), [r(2, 3), r(4), r(1, 2)]);
      checkModuleGradients('SelectTable(-1) nested', new SelectTable(-1), [r(2), [r(3), r(2, 2)]]);
      checkModuleGradients('FlattenTable', new FlattenTable(), [r(2), [r(3), [r(1, 2)]], r(2, 2)]);
      checkModuleGradients('CAddTable', new CAddTable(), [r(2, 3), r(2, 3), r(2, 3)]);
      checkModuleGradients('CAddTable one input', new CAddTable(), [r(4)]);
      // in place overwrites its first input: feed it from layers that recompute it on every forward
      const inplace = new Sequential().add(new ConcatTable().add(new Linear(3, 4)).add(new Linear(3, 4))).add(new CAddTable(true));
      checkModuleGradients('CAddTable(inplace) after ConcatTable', inplace, r(2, 3));
      checkModuleGradients('CMulTable', new CMulTable(), [r(2, 3), r(2, 3), r(2, 3)]);
      checkModuleGradients('CMulTable two', new CMulTable(), [r(5), r(5)]);
      checkModuleGradients('CSubTable', new CSubTable(), [r(3, 2), r(3, 2)]);
      checkModuleGradients('CMaxTable', new CMaxTable(), separated(3, [4, 5], rng));
      checkModuleGradients('CMaxTable two', new CMaxTable(), separated(2, [7], rng));
    });

    it('JoinTable and SplitTable values, with Torch\'s nInputDims rule', () => {
      setBackend(name);
      const rng = new RandomGenerator(12);
      const a = Tensor.randn([2, 3, 2], 0, 1, rng), b = Tensor.randn([2, 1, 2], 0, 1, rng);
      const j = new JoinTable(1);
      assert.deepEqual(j.forward([a, b]).shape, [2, 4, 2]);
      assert.deepEqual(j.forward([a, b]).toArray(), refConcat([a, b], 1));
      const g = Tensor.randn([2, 4, 2], 0, 1, rng);
      const [ga, gb] = j.backward([a, b], g);
      // gradients are the matching slices of g
      const gFlat = g.toArray();
      const expectA: number[] = [], expectB: number[] = [];
      for (let n = 0; n < 2; n++) for (let c = 0; c < 4; c++) for (let w = 0; w < 2; w++) (c < 3 ? expectA : expectB).push(gFlat[(n * 4 + c) * 2 + w]);
      assert.deepEqual(ga.toArray(), expectA);
      assert.deepEqual(gb.toArray(), expectB);
      // nInputDims: dim counts within a non-batch input
      const u = Tensor.from([1, 2]), v = Tensor.from([3]);
      assert.deepEqual(new JoinTable(0, 1).forward([u, v]).toArray(), [1, 2, 3]);
      const ub = Tensor.from([[1, 2], [4, 5]]), vb = Tensor.from([[3], [6]]);
      assert.deepEqual(new JoinTable(0, 1).forward([ub, vb]).toNested(), [[1, 2, 3], [4, 5, 6]]);
      assert.deepEqual(new JoinTable(-1, 1).forward([ub, vb]).toNested(), [[1, 2, 3], [4, 5, 6]], 'negative dims do not shift');
      assert.deepEqual(new JoinTable(0).forward([ub, vb.t().contiguous()]).toNested(), [[1, 2], [4, 5], [3, 6]]);
      // SplitTable
      const x = Tensor.randn([3, 4, 2], 0, 1, rng);
      const parts = new SplitTable(1).forward(x);
      assert.equal(parts.length, 4);
      parts.forEach((p, i) => {
        assert.deepEqual(p.shape, [3, 2]);
        assert.deepEqual(p.toArray(), refSelect(x, 1, i));
      });
      const cols = new SplitTable(0, 1).forward(Tensor.from([[1, 2, 3], [4, 5, 6]]));
      assert.deepEqual(cols.map((c) => c.toArray()), [[1, 4], [2, 5], [3, 6]], 'batch input splits dim 1');
      const rows = new SplitTable(0, 1).forward(Tensor.from([1, 2, 3]));
      assert.deepEqual(rows.map((c) => c.item()), [1, 2, 3], 'non-batch input splits dim 0');
      const s = new SplitTable(1);
      s.forward(x);
      const gs = parts.map(() => Tensor.randn([3, 2], 0, 1, rng));
      const gx = s.backward(x, gs);
      assert.deepEqual(gx.shape, [3, 4, 2]);
      gs.forEach((gi, i) => assert.deepEqual(refSelect(gx, 1, i), gi.toArray()));
      // split then join is the identity
      assert.deepEqual(new JoinTable(1).forward(new SplitTable(1).forward(x).map((t) => t.unsqueeze(1))).toArray(), x.toArray());
    });

    it('SelectTable and FlattenTable values', () => {
      setBackend(name);
      const a = Tensor.from([1, 2]), b = Tensor.from([[3, 4]]), c = Tensor.from([5]);
      const sel = new SelectTable(-1);
      assert.equal(sel.forward([a, b, c]), c, 'the selected element itself');
      assert.equal(new SelectTable(1).forward([a, b, c]), b);
      const nested = [a, [b, c]];
      assert.equal(new SelectTable(-1).forward(nested), nested[1]);
      const s1 = new SelectTable(1);
      s1.forward([a, b, c]);
      const gi = s1.backward([a, b, c], Tensor.from([[7, 8]])) as Tensor[];
      assert.deepEqual(gi.map((t) => t.toNested()), [[0, 0], [[7, 8]], [0]]);
      // nested zero entries mirror the input structure
      const sn = new SelectTable(0);
      sn.forward([a, [b, c]]);
      const gn = sn.backward([a, [b, c]], Tensor.from([9, 9])) as Activity[];
      assert.deepEqual((gn[0] as Tensor).toArray(), [9, 9]);
      assert.deepEqual((gn[1] as Tensor[]).map((t) => t.toNested()), [[[0, 0]], [0]]);

      const f = new FlattenTable();
      const d = Tensor.from([6]);
      const flat = f.forward([a, [b, [c]], d]);
      assert.equal(flat.length, 4);
      [a, b, c, d].forEach((t, i) => assert.equal(flat[i], t, `element ${i}`));
      const go = [Tensor.from([1, 1]), Tensor.from([[2, 2]]), Tensor.from([3]), Tensor.from([4])];
      const gf = f.backward([a, [b, [c]], d], go) as Activity[];
      assert.equal(gf[0], go[0]);
      assert.equal((gf[1] as Activity[])[0], go[1]);
      assert.equal(((gf[1] as Activity[])[1] as Activity[])[0], go[2]);
      assert.equal(gf[2], go[3]);
    });

    it('elementwise table values', () => {
      setBackend(name);
      const rng = new RandomGenerator(13);
      const xs = [0, 1, 2].map(() => Tensor.randn([3, 4], 0, 1, rng));
      const arr = xs.map((x) => x.toArray());
      const g = Tensor.randn([3, 4], 0, 1, rng), ga = g.toArray();
      const at = (f: (i: number) => number) => Array.from({ length: 12 }, (_, i) => f(i));

      assertClose(new CAddTable().forward(xs).toArray(), at((i) => arr[0][i] + arr[1][i] + arr[2][i]), 'CAddTable');
      const add = new CAddTable();
      add.forward(xs);
      add.backward(xs, g).forEach((t) => assert.deepEqual(t.toArray(), ga));

      const mul = new CMulTable();
      assertClose(mul.forward(xs).toArray(), at((i) => arr[0][i] * arr[1][i] * arr[2][i]), 'CMulTable', 1e-5, 1e-6);
      const gm = mul.backward(xs, g);
      assertClose(gm[0].toArray(), at((i) => ga[i] * arr[1][i] * arr[2][i]), 'CMulTable grad 0', 1e-5, 1e-6);
      assertClose(gm[1].toArray(), at((i) => ga[i] * arr[0][i] * arr[2][i]), 'CMulTable grad 1', 1e-5, 1e-6);
      assertClose(gm[2].toArray(), at((i) => ga[i] * arr[0][i] * arr[1][i]), 'CMulTable grad 2', 1e-5, 1e-6);
      // zeros in an input do not poison the others' gradients (no division by the input)
      const z = Tensor.from([0, 2]), w = Tensor.from([3, 0]);
      const mz = new CMulTable();
      mz.forward([z, w]);
      assert.deepEqual(mz.backward([z, w], Tensor.from([1, 1])).map((t) => t.toArray()), [[3, 0], [0, 2]]);

      const sub = new CSubTable();
      assertClose(sub.forward([xs[0], xs[1]]).toArray(), at((i) => arr[0][i] - arr[1][i]), 'CSubTable');
      const gsub = sub.backward([xs[0], xs[1]], g);
      assert.deepEqual(gsub[0].toArray(), ga);
      assertClose(gsub[1].toArray(), at((i) => -ga[i]), 'CSubTable grad 1');

      const mx = new CMaxTable();
      assert.deepEqual(mx.forward(xs).toArray(), at((i) => Math.max(arr[0][i], arr[1][i], arr[2][i])));
      const gmx = mx.backward(xs, g);
      const argmax = at((i) => [0, 1, 2].reduce((best, k) => (arr[k][i] > arr[best][i] ? k : best), 0));
      gmx.forEach((t, k) => assertClose(t.toArray(), at((i) => (argmax[i] === k ? ga[i] : 0)), `CMaxTable grad ${k}`, 0, 0));
      // ties: the first input holding the maximum gets the gradient
      const p = Tensor.from([1, 5, 2]), q = Tensor.from([1, 3, 4]), s = Tensor.from([0, 5, 4]);
      const mt = new CMaxTable();
      assert.deepEqual(mt.forward([p, q, s]).toArray(), [1, 5, 4]);
      mt.backward([p, q, s], Tensor.from([10, 20, 30])).forEach((t, k) => assertClose(t.toArray(), [[10, 20, 0], [0, 0, 30], [0, 0, 0]][k], `tie grad ${k}`, 0, 0));

      // in place: the first input becomes the output, gradients are gradOutput itself
      const x0 = xs[0].clone();
      const ip = new CAddTable(true);
      const y = ip.forward([x0, xs[1]]);
      assert.equal(y, x0);
      assertClose(y.toArray(), at((i) => arr[0][i] + arr[1][i]), 'CAddTable(inplace)');
      const gip = ip.backward([x0, xs[1]], g);
      assert.equal(gip[0], g);
      assert.equal(gip[1], g);
    });

    it('bad inputs name the module', () => {
      setBackend(name);
      const t = (...s: number[]) => Tensor.zeros(s);
      assert.throws(() => new JoinTable(1).forward(t(2, 3) as unknown as Tensor[]), /JoinTable: expected input a table of tensors, got float32 \[2, 3\]/);
      assert.throws(() => new JoinTable(1).forward([t(2, 3), t(3, 3)]), /JoinTable: tensors to join along dim 1 must agree/);
      assert.throws(() => new JoinTable(2).forward([t(2, 3), t(2, 3)]), /JoinTable: expected input with a dim 2 in range/);
      assert.throws(() => new JoinTable(1).forward([]), /JoinTable/);
      assert.throws(() => new JoinTable(0.5), /JoinTable: dim must be an integer/);
      assert.throws(() => new SplitTable(3).forward(t(2, 3)), /SplitTable: expected input with a dim 3 in range/);
      assert.throws(() => new SplitTable(0).forward([t(2)] as unknown as Tensor), /SplitTable/);
      assert.throws(() => new SelectTable(3).forward([t(1), t(2)]), /SelectTable: expected input a table with an element at index 3, got a table of 2/);
      assert.throws(() => new SelectTable(-3).forward([t(1), t(2)]), /SelectTable/);
      assert.throws(() => new SelectTable(0).forward(t(2) as unknown as Tensor[]), /SelectTable/);
      assert.throws(() => new SelectTable(1.5), /SelectTable: index must be an integer/);
      const sel = new SelectTable(0);
      sel.forward([t(2), t(3)]);
      assert.throws(() => sel.backward([t(2), t(3)], t(3)), /SelectTable: gradOutput \[3\] does not match the selected element \[2\]/);
      assert.throws(() => new FlattenTable().forward(t(2) as unknown as Tensor[]), /FlattenTable/);
      assert.throws(() => new CAddTable().forward([t(2, 3), t(3, 2)]), /CAddTable: expected input a table of at least 1 float32 tensors of one shape/);
      assert.throws(() => new CAddTable().forward([]), /CAddTable/);
      assert.throws(() => new CMulTable().forward(t(2) as unknown as Tensor[]), /CMulTable/);
      assert.throws(() => new CSubTable().forward([t(2), t(2), t(2)]), /CSubTable: expected input a table of 2 float32 tensors/);
      assert.throws(() => new CSubTable().forward([t(2)]), /CSubTable/);
      assert.throws(() => new CMaxTable().forward([t(2), t(3)]), /CMaxTable/);
      assert.throws(() => new CMaxTable().forward([t(2), Tensor.zeros([2], { dtype: 'int32' })]), /CMaxTable.*int32/);
      const add = new CAddTable().setName('residualSum');
      add.forward([t(2), t(2)]);
      assert.throws(() => add.backward([t(2), t(2)], t(3)), /residualSum: gradOutput \[3\] does not match/);
    });

    it('reuses output and gradInput buffers', () => {
      setBackend(name);
      const rng = new RandomGenerator(14);
      const r = (...s: number[]) => Tensor.randn(s, 0, 1, rng);
      const sameTable = (a: Activity, b: Activity, what: string): void => {
        if (a instanceof Tensor) { assert.equal(a, b, what); return; }
        assert.equal(a, b, `${what}: table object`);
        a.forEach((x, i) => sameTable(x, (b as Activity[])[i], `${what}[${i}]`));
      };
      /** forward+backward twice with fresh inputs of the same shapes; buffers must not change */
      const twice = (what: string, m: { forward(x: any): Activity; backward(x: any, g: any): Activity; output: Activity; gradInput: Activity }, mk: () => Activity, g: Activity, sameInput = false) => {
        const x1 = mk();
        m.forward(x1);
        m.backward(x1, g);
        const out = m.output, outEls = out instanceof Tensor ? [] : [...out];
        const gi = m.gradInput, giEls = gi instanceof Tensor ? [] : [...gi];
        const x2 = sameInput ? x1 : mk();
        m.forward(x2);
        m.backward(x2, g);
        sameTable(m.output, out, `${what} output`);
        if (!(out instanceof Tensor)) outEls.forEach((e, i) => assert.equal((m.output as Activity[])[i], e, `${what} output[${i}]`));
        sameTable(m.gradInput, gi, `${what} gradInput`);
        if (!(gi instanceof Tensor)) giEls.forEach((e, i) => assert.equal((m.gradInput as Activity[])[i], e, `${what} gradInput[${i}]`));
      };
      twice('JoinTable', new JoinTable(1), () => [r(2, 3), r(2, 2)], r(2, 5));
      twice('SplitTable', new SplitTable(1), () => r(2, 3), [r(2), r(2), r(2)], true);
      // these two pass the input's own tensors through: same input, same output objects
      twice('SelectTable', new SelectTable(1), () => [r(2), r(3), [r(1), r(2)]], r(3), true);
      twice('FlattenTable', new FlattenTable(), () => [r(2), [r(3), [r(1)]]], [r(2), r(3), r(1)], true);
      twice('CAddTable', new CAddTable(), () => [r(2, 3), r(2, 3)], r(2, 3));
      twice('CMulTable', new CMulTable(), () => [r(2, 3), r(2, 3), r(2, 3)], r(2, 3));
      twice('CSubTable', new CSubTable(), () => [r(4), r(4)], r(4));
      twice('CMaxTable', new CMaxTable(), () => [r(4), r(4), r(4)], r(4));

      // SelectTable keeps its zero buffers zero after the selected entry moves (negative index)
      const s = new SelectTable(-1);
      const a = r(2), b = r(2), c = r(2);
      s.forward([a, b]);
      const g1 = s.backward([a, b], Tensor.from([1, 1])) as Tensor[];
      s.forward([a, b, c]);
      const g2 = s.backward([a, b, c], Tensor.from([2, 2])) as Tensor[];
      assert.equal(g2, g1, 'same array');
      assert.deepEqual(g2.map((t) => t.toArray()), [[0, 0], [0, 0], [2, 2]]);
      // SplitTable keeps its views while the input's storage and layout are unchanged
      const sp = new SplitTable(0);
      const x = r(3, 2);
      const v1 = [...sp.forward(x)];
      x.fill_(7);
      const v2 = sp.forward(new Tensor(x.data, x.shape, x.strides, x.offset));
      v1.forEach((v, i) => assert.equal(v2[i], v));
      assert.deepEqual(v2[1].toArray(), [7, 7]);
      const v3 = sp.forward(x.clone());
      assert.notEqual(v3[0], v1[0], 'new storage gives new views');
    });
  });
}
