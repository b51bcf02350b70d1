/**
 * Dataset items cross processes with v8.serialize (./partition-task.ts), which keeps plain data but
 * drops prototypes: a Sample or a Tensor would arrive as a plain object. This codec carries the two
 * classes inference and training need, and nothing else changes for plain items.
 *
 * Why not a v8.Serializer subclass: its `_writeHostObject` hook only fires for objects made by
 * native code (Node uses it for typed arrays); instances of JS classes are written as plain objects
 * before any hook sees them. So the codec works on the value before serialization instead:
 *
 * - encode walks the value, descending only into arrays (the items list, zip pairs, glom groups,
 *   tables of tensors), and replaces each Sample / Tensor by a tagged plain object. Arrays are
 *   copied only when they contain something tagged; a value without Samples or Tensors is returned
 *   as it is (the same object) and serialized exactly as before. Plain objects, Maps and Sets are
 *   not searched: a Tensor inside `{ x: tensor }` still arrives without its prototype.
 * - a payload that needed tags is wrapped in an envelope object, so decoding plain payloads costs
 *   one check of the top-level value, and user objects are never mistaken for tags.
 * - a Tensor travels as its shape and its own elements only (a view into a large storage, such as
 *   a Sample made with images.select(0, i), ships 784 floats, not the whole storage).
 */
import { Sample } from '../data/sample.js';
import { Tensor } from '../tensor/tensor.js';

/** The key of the envelope and of tags: a NUL-prefixed name no user data plausibly has. */
const ENVELOPE = '\u0000bigdl.items';
const TAG = '\u0000bigdl.class';

interface TensorTag { [TAG]: 'Tensor'; shape: number[]; data: Float32Array | Int32Array }
interface SampleTag { [TAG]: 'Sample'; features: TensorTag | TensorTag[]; label: TensorTag | number | undefined }

/** Arrays nested deeper than this are checked for cycles (a cyclic array would recurse forever). */
const CYCLE_CHECK_DEPTH = 2;

/** The value with every Sample and Tensor (in it or in arrays inside it) replaced by tags, wrapped in an envelope; the value itself when it has none. */
export function encodeItems(value: unknown): unknown {
  const out = encode(value, 0, null);
  return out === value ? value : { [ENVELOPE]: 1, value: out };
}

/** The inverse of encodeItems on a deserialized value (decodes in place). */
export function decodeItems(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, ENVELOPE)) return value;
  return decode((value as { value: unknown }).value, 0, null);
}

function encode(v: unknown, depth: number, seen: Set<unknown[]> | null): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return encodeArray(v, depth, seen);
  if (v instanceof Tensor) return tensorTag(v);
  if (v instanceof Sample) return sampleTag(v);
  return v;
}

function encodeArray(v: unknown[], depth: number, seen: Set<unknown[]> | null): unknown[] {
  if (depth >= CYCLE_CHECK_DEPTH) {
    seen ??= new Set();
    if (seen.has(v)) return v;
    seen.add(v);
  }
  let out: unknown[] | null = null; // copied on the first element that changes
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    // primitives inline: most items are, and a call per item would cost a tenth of serialize itself
    const e = typeof x !== 'object' || x === null ? x : encode(x, depth + 1, seen);
    if (out === null && e !== x) out = v.slice(0, i);
    if (out !== null) out.push(e);
  }
  return out ?? v;
}

function tensorTag(t: Tensor): TensorTag {
  let data: Float32Array | Int32Array;
  if (!t.isContiguous()) data = t.clone().data;
  else if (t.offset === 0 && t.numel === t.data.length) data = t.data;
  else data = t.data.subarray(t.offset, t.offset + t.numel); // a window: v8 writes only its bytes
  return { [TAG]: 'Tensor', shape: t.shape.slice(), data };
}

function sampleTag(s: Sample): SampleTag {
  const features = Array.isArray(s.features) ? s.features.map(tensorTag) : tensorTag(s.features);
  const label = s.label instanceof Tensor ? tensorTag(s.label) : s.label;
  return { [TAG]: 'Sample', features, label };
}

function decode(v: unknown, depth: number, seen: Set<unknown[]> | null): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    if (depth >= CYCLE_CHECK_DEPTH) {
      seen ??= new Set();
      if (seen.has(v)) return v;
      seen.add(v);
    }
    // deserialized arrays are ours: replace in place
    for (let i = 0; i < v.length; i++) v[i] = decode(v[i], depth + 1, seen);
    return v;
  }
  const kind = (v as Record<string, unknown>)[TAG];
  if (kind === 'Tensor') return toTensor(v as TensorTag);
  if (kind === 'Sample') {
    const s = v as SampleTag;
    const features = Array.isArray(s.features) ? s.features.map(toTensor) : toTensor(s.features);
    const label = typeof s.label === 'object' && s.label !== null ? toTensor(s.label) : s.label;
    return new Sample(features, label);
  }
  return v;
}

function toTensor(t: TensorTag): Tensor {
  return new Tensor(t.data, t.shape);
}
