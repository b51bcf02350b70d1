// Every way a file can be wrong, and every value that cannot be saved, fails with a clear error.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor/tensor.js';
import { RNG } from '../../src/tensor/random.js';
import { Module } from '../../src/nn/module.js';
import { Linear } from '../../src/nn/linear.js';
import { ReLU } from '../../src/nn/activations.js';
import { Sequential } from '../../src/nn/sequential.js';
import {
  FORMAT_VERSION, SerializationError, deserializeModel, deserializeObject, registerClass, registerClasses, serializeModel, serializeObject,
} from '../../src/serialization/index.js';
import { TRAILER_BYTES, PREAMBLE_BYTES } from '../../src/serialization/format.js';
import { readHeader, rewriteHeader } from './util.js';

class Custom extends Module {
  scale = 2;
  updateOutput(x: Tensor): Tensor {
    this.output = x.mul(this.scale);
    return this.output;
  }
  updateGradInput(_x: Tensor, g: Tensor): Tensor {
    this.gradInput = g.mul(this.scale);
    return this.gradInput;
  }
}
registerClass('test.Custom', Custom);

class NotRegistered extends Module {
  updateOutput(x: Tensor): Tensor { return x; }
  updateGradInput(_x: Tensor, g: Tensor): Tensor { return g; }
}

function model(): Sequential {
  return new Sequential().add(new Linear(4, 3)).add(new ReLU()).add(new Custom());
}

function expectError(f: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof SerializationError, `expected a SerializationError, got ${e}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('serialization errors', () => {
  const bytes = serializeModel(model());

  it('a truncated file names the expected and actual sizes', () => {
    for (const keep of [bytes.length - 1, bytes.length - 100, 40, 20, 3]) {
      expectError(() => deserializeModel(bytes.subarray(0, keep)), 'E_TRUNCATED', /^deserializeModel: truncated: /);
    }
    expectError(() => deserializeModel(bytes.subarray(0, bytes.length - 100)), 'E_TRUNCATED',
      new RegExp(`expected ${bytes.length} bytes .*got ${bytes.length - 100}`));
    const longer = new Uint8Array(bytes.length + 5);
    longer.set(bytes);
    expectError(() => deserializeModel(longer), 'E_CORRUPT', /5 unexpected trailing bytes/);
  });

  it('a flipped byte anywhere fails the checksum', () => {
    const h = new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
    for (const at of [PREAMBLE_BYTES + 5, PREAMBLE_BYTES + h - 1, bytes.length - TRAILER_BYTES - 3, bytes.length - 1]) {
      const bad = bytes.slice();
      bad[at] ^= 0x10;
      expectError(() => deserializeModel(bad), 'E_CHECKSUM', /corrupted: checksum mismatch/);
    }
  });

  it('wrong magic bytes', () => {
    const bad = bytes.slice();
    bad[1] = 0x58;
    expectError(() => deserializeModel(bad), 'E_MAGIC', /not a bigdl-ts model file: it starts with bytes 89 58/);
    expectError(() => deserializeModel(new TextEncoder().encode('{"hello": "json"}')), 'E_MAGIC', /not a bigdl-ts model file/);
  });

  it('a newer format version says which version is supported', () => {
    const bad = bytes.slice();
    new DataView(bad.buffer).setUint32(8, FORMAT_VERSION + 1, true);
    expectError(() => deserializeModel(bad), 'E_VERSION',
      new RegExp(`format version ${FORMAT_VERSION + 1}, but this bigdl-ts .* supports format version ${FORMAT_VERSION}.*upgrade`));
    new DataView(bad.buffer).setUint32(8, 0, true);
    expectError(() => deserializeModel(bad), 'E_VERSION', /invalid model format version 0/);
  });

  it('an unknown class is named, with the fix', () => {
    const bad = rewriteHeader(bytes, (h) => {
      for (const o of h.objects) if (o.kind === 'instance' && o.class === 'test.Custom') o.class = 'MyMissingLayer';
    });
    expectError(() => deserializeModel(bad), 'E_UNKNOWN_CLASS', /unknown class 'MyMissingLayer'.*registerClass\('MyMissingLayer', MyMissingLayer\)/);
  });

  it('blobs that do not fit, bad references and bad tensors are corrupt', () => {
    const big = rewriteHeader(bytes, (h) => {
      const b = h.blobs.find((x) => x.byteLength > 0 && !x.zero)!;
      b.byteLength += 4096;
    });
    expectError(() => deserializeModel(big), 'E_CORRUPT', /corrupted: blob \d+ \(\d+ bytes at data offset \d+\) does not fit the \d+-byte data section/);
    const ref = rewriteHeader(bytes, (h) => {
      h.root = { ref: h.objects.length + 3 };
    });
    expectError(() => deserializeModel(ref), 'E_CORRUPT', /reference to object \d+, but there are \d+ objects/);
    const shape = rewriteHeader(bytes, (h) => {
      const t = h.objects.find((o) => o.kind === 'tensor' && o.shape.length === 2)!;
      if (t.kind === 'tensor') t.shape[0] += 100;
    });
    expectError(() => deserializeModel(shape), 'E_CORRUPT', /corrupted: tensor \d+: Tensor: a view of shape/);
    const proto = rewriteHeader(bytes, (h) => {
      h.objects.push({ kind: 'object', proto: 'Function' as 'object', fields: {} });
    });
    expectError(() => deserializeModel(proto), 'E_CORRUPT', /prototype "Function"/);
  });

  it('loading never runs code: no constructor, getter or setter of a registered class fires', () => {
    let calls = 0;
    class Watched {
      value = 1;
      constructor() {
        calls++;
      }
      set hook(_v: unknown) {
        calls++;
      }
    }
    registerClass('test.Watched', Watched);
    const w = new Watched();
    calls = 0;
    const bad = rewriteHeader(serializeObject(w), (h) => {
      const o = h.objects[0];
      if (o.kind === 'instance') o.fields.hook = 'payload';
    });
    const v = deserializeObject(bad) as Watched & { hook: unknown };
    assert.equal(calls, 0);
    assert.ok(v instanceof Watched);
    assert.equal(Object.getOwnPropertyDescriptor(v, 'hook')?.value, 'payload', 'a data property, the setter was not called');
  });

  it('a module holding a function names the module path and field', () => {
    const m = model();
    (m.get(2) as unknown as { hook: unknown }).hook = () => 42;
    expectError(() => serializeModel(m), 'E_UNSERIALIZABLE',
      /^serializeModel: cannot save model\.modules\[2\]\.hook: it is a function \(field 'hook' of module Custom at model\.modules\[2\]\)/);
    const nested = model();
    (nested.get(0) as unknown as { config: unknown }).config = { act: Math.max };
    expectError(() => serializeModel(nested), 'E_UNSERIALIZABLE', /model\.modules\[0\]\.config\.act: it is a function \(max\) \(field 'act' of module Linear at model\.modules\[0\]\)/);
    const sym = model();
    (sym.get(1) as unknown as { tag: unknown }).tag = Symbol('x');
    expectError(() => serializeModel(sym), 'E_UNSERIALIZABLE', /model\.modules\[1\]\.tag: it is a symbol/);
  });

  it('an unregistered class is refused at save time, with the fix', () => {
    const m = new Sequential().add(new NotRegistered().setName('mine'));
    expectError(() => serializeModel(m), 'E_UNSERIALIZABLE',
      /cannot save model\.modules\[0\]: it is an instance of NotRegistered, which is not registered.*registerClass\('NotRegistered', NotRegistered\)/);
    expectError(() => serializeObject({ w: new WeakMap() }), 'E_UNSERIALIZABLE', /cannot save model\.w: it is a WeakMap/);
  });

  it('metadata must be plain JSON', () => {
    expectError(() => serializeModel(model(), { metadata: { t: Tensor.zeros([1]) } }), 'E_UNSERIALIZABLE', /metadata\.t: a Tensor is not plain JSON/);
    expectError(() => serializeModel(model(), { metadata: { x: NaN } }), 'E_UNSERIALIZABLE', /metadata\.x: NaN is not a finite number/);
  });

  it('the registry rejects two classes with one name', () => {
    assert.throws(() => registerClass('Linear', class Linear {}), /the name 'Linear' is already registered for another class/);
    assert.throws(() => registerClasses({ 'test.Custom': class {} }), /already registered/);
    assert.throws(() => registerClass('test.Other', Custom), /already registered as 'test.Custom'/);
    assert.throws(() => registerClass('Tensor', class {}), /reserved/);
    registerClass('test.Custom', Custom); // the same pair again is fine
  });

  it('the header records classes and the process-wide RNG is a reference, not a copy', () => {
    const h = readHeader(bytes);
    assert.deepEqual(h.classes, ['Linear', 'ReLU', 'Sequential', 'test.Custom']);
    const v = deserializeObject(serializeObject({ rng: RNG })) as { rng: unknown };
    assert.equal(v.rng, RNG);
  });
});
