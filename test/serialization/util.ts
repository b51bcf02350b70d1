// Shared helpers for the serialization tests.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Tensor } from '../../src/tensor/tensor.js';
import type { Activity } from '../../src/nn/module.js';
import { PREAMBLE_BYTES, TRAILER_BYTES, dataStart, writePreamble, FORMAT_VERSION, type FileHeader } from '../../src/serialization/format.js';

/** Same shape and the same bits in every element (NaN payloads and -0 included). */
export function assertSameBits(actual: Activity, expected: Activity, what: string): void {
  if (expected instanceof Tensor) {
    assert.ok(actual instanceof Tensor, `${what}: expected a tensor`);
    assert.deepEqual([...actual.shape], [...expected.shape], `${what}: shape`);
    assert.equal(actual.dtype, expected.dtype, `${what}: dtype`);
    const a = Buffer.from(actual.toTypedArray().buffer), e = Buffer.from(expected.toTypedArray().buffer);
    assert.ok(a.equals(e), `${what}: values differ`);
    return;
  }
  assert.ok(Array.isArray(actual) && actual.length === expected.length, `${what}: expected a table of ${expected.length}`);
  expected.forEach((x, i) => assertSameBits((actual as Activity[])[i], x, `${what}[${i}]`));
}

/** Snapshot of an activity (modules reuse their output buffers). */
export function snapshot(a: Activity): Activity {
  return a instanceof Tensor ? a.clone() : a.map(snapshot);
}

export function readHeader(bytes: Uint8Array): FileHeader {
  const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
  return JSON.parse(new TextDecoder().decode(bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + len)));
}

/** Rebuilds a file with an edited header (same data section), with a valid checksum. */
export function rewriteHeader(bytes: Uint8Array, edit: (h: FileHeader) => void): Uint8Array {
  const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
  const header = readHeader(bytes);
  const data = bytes.subarray(dataStart(len), bytes.length - TRAILER_BYTES);
  edit(header);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const start = dataStart(json.length);
  const total = start + data.length + TRAILER_BYTES;
  const out = new Uint8Array(total);
  writePreamble(out, { version: FORMAT_VERSION, headerLength: json.length, totalLength: total });
  out.set(json, PREAMBLE_BYTES);
  out.set(data, start);
  out.set(createHash('sha256').update(out.subarray(0, total - TRAILER_BYTES)).digest(), total - TRAILER_BYTES);
  return out;
}
