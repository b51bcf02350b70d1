/**
 * Saving: walks the object graph of a model (and optional extra state) generically, the way
 * Module.clone() does, and writes the format of ./format.ts. No per-module code: every object gets
 * an id, class instances are recorded by registered class name plus their own enumerable fields,
 * tensors and typed arrays go to 64-byte aligned binary blobs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { Criterion } from '../nn/criterion.js';
import { Module } from '../nn/module.js';
import { Tensor } from '../tensor/tensor.js';
import { packageRoot } from '../util/package-root.js';
import {
  BLOB_ALIGN, FORMAT_NAME, FORMAT_VERSION, PREAMBLE_BYTES, TRAILER_BYTES, VIEW_TYPES, SerializationError, align, dataStart,
  viewTypeOf, writePreamble,
  type BlobEntry, type Fields, type FileHeader, type JsonValue, type ObjectEntry, type ViewType,
} from './format.js';
import { classNameOf, isDroppedClass, isTransientClass, singletonNameOf, type Constructor } from './registry.js';

export interface SaveOptions {
  /** your own JSON data (strings, finite numbers, booleans, null, arrays, plain objects), returned by load as metadata.user */
  metadata?: Record<string, unknown>;
  /**
   * Extra state saved alongside the model, e.g. optimizer state and training progress for a
   * checkpoint: any value the format can hold (plain objects, arrays, Maps, numbers, strings,
   * Tensors, typed arrays, registered class instances). Tensors shared with the model stay shared.
   */
  extra?: unknown;
  /**
   * Save parameter gradients (default false: they are written as all-zero blobs that take no
   * space, and come back as zeros with the same storage layout).
   */
  gradients?: boolean;
  /**
   * Save the `output` and `gradInput` activation buffers of modules and criterions (default false:
   * they come back as empty tensors, as in a freshly built module; the next forward refills them).
   */
  activations?: boolean;
}

let cachedVersion: string | undefined;
/** bigdl-ts's version, from package.json. */
export function libraryVersion(): string {
  if (cachedVersion === undefined) {
    try {
      cachedVersion = String(JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version ?? 'unknown');
    } catch {
      cachedVersion = 'unknown';
    }
  }
  return cachedVersion;
}

export function requireLittleEndian(what: string): void {
  if (endianness() !== 'LE') {
    throw new SerializationError('E_UNSUPPORTED', `${what}: model files store raw little-endian blobs; this ${endianness()} host is not supported`);
  }
}

// ---- the object-graph encoder -------------------------------------------------------------------

/** The nearest module on an object's discovery path, for error messages. */
interface Owner {
  path: string;
  desc: string;
}

interface Pending {
  obj: object;
  id: number;
  path: string;
  owner: Owner | null;
}

interface ViewInfo {
  view: ArrayBufferView;
  id: number;
  type: ViewType;
  /** element count (bytes for a DataView) */
  length: number;
  /** referenced as a value, not only as a tensor's storage: keep all of it */
  full: boolean;
  tensors: { t: Tensor; entry: Extract<ObjectEntry, { kind: 'tensor' }> }[];
  /** element range [lo, hi) the tensors use */
  lo: number;
  hi: number;
}

interface Group {
  buffer: ArrayBufferLike;
  views: ViewInfo[];
  /** the ArrayBuffer itself is referenced */
  bufferIds: number[];
}

const BUILTINS_WITH_HIDDEN_STATE: [Function, string][] = [
  [WeakMap, 'WeakMap'], [WeakSet, 'WeakSet'], [Promise, 'Promise'], [RegExp, 'RegExp'], [Error, 'Error'],
  ...(typeof WeakRef === 'function' ? [[WeakRef, 'WeakRef'] as [Function, string]] : []),
];

function fieldPath(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function describeOwner(m: Module<any, any> | Criterion<any, any>, path: string): string {
  const cls = m.constructor.name || 'anonymous class';
  let name = cls;
  try {
    name = m.getName();
  } catch {
    // keep the class name
  }
  return `${m instanceof Module ? 'module' : 'criterion'} ${cls}${name !== cls ? ` '${name}'` : ''} at ${path}`;
}

class Encoder {
  private readonly ids = new Map<object, number>();
  readonly objects: (ObjectEntry | null)[] = [];
  private readonly queue: Pending[] = [];
  private readonly views = new Map<ArrayBufferView, ViewInfo>();
  private readonly groups = new Map<ArrayBufferLike, Group>();
  private head = 0;
  readonly classes = new Set<string>();
  /** stands in for dropped activation buffers (one shared empty tensor, like Module's own default) */
  private readonly emptyActivation = Tensor.empty([0]);

  constructor(private readonly opts: SaveOptions, private readonly gradientTensors: Set<Tensor>) {}

  /** Encodes a root value and everything it reaches. */
  encodeRoot(v: unknown, path: string): JsonValue {
    const out = this.value(v, path, null, path);
    this.drain();
    return out;
  }

  private fail(path: string, what: string, owner: Owner | null, field: string, advice: string): never {
    const where = owner ? ` (field '${field}' of ${owner.desc})` : '';
    throw new SerializationError('E_UNSERIALIZABLE', `cannot save ${path}: ${what}${where}. ${advice}`);
  }

  private value(v: unknown, path: string, owner: Owner | null, field: string): JsonValue {
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return v;
      case 'number':
        if (Number.isNaN(v)) return { num: 'NaN' };
        if (v === Infinity) return { num: 'Infinity' };
        if (v === -Infinity) return { num: '-Infinity' };
        if (Object.is(v, -0)) return { num: '-0' };
        return v;
      case 'undefined':
        return { undefined: true };
      case 'bigint':
        return { bigint: v.toString() };
      case 'symbol':
        return this.fail(path, `it is a symbol (${String(v)})`, owner, field,
          'Symbols are unique to one process and cannot be written to a file: use a string instead');
      case 'function':
        return this.fail(path, `it is a function${v.name ? ` (${v.name})` : ''}`, owner, field,
          'Functions, closures and symbols are code, not data, and a model file never contains code: keep configuration in plain fields (numbers, strings, registered objects) and behaviour in methods, or remove the field before saving');
      default:
        if (v === null) return null;
        return { ref: this.ref(v as object, path, owner, field) };
    }
  }

  private ref(obj: object, path: string, owner: Owner | null, field: string): number {
    const known = this.ids.get(obj);
    if (known !== undefined) {
      const vi = ArrayBuffer.isView(obj) ? this.views.get(obj) : undefined;
      if (vi) vi.full = true;
      return known;
    }
    if (ArrayBuffer.isView(obj)) return this.viewRef(obj, path, owner, field, true);
    const id = this.objects.length;
    this.objects.push(null);
    this.ids.set(obj, id);
    const singleton = singletonNameOf(obj);
    if (singleton !== undefined) {
      this.objects[id] = { kind: 'singleton', name: singleton };
      return id;
    }
    if (obj instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && obj instanceof SharedArrayBuffer)) {
      this.objects[id] = { kind: 'arraybuffer', blob: -1 };
      this.group(obj as ArrayBufferLike).bufferIds.push(id);
      return id;
    }
    const proto = Object.getPrototypeOf(obj);
    if (proto === Tensor.prototype || proto === Array.prototype || proto === Map.prototype || proto === Set.prototype ||
      proto === Date.prototype || proto === Object.prototype || proto === null) {
      this.queue.push({ obj, id, path, owner });
      return id;
    }
    const ctor = proto && Object.prototype.hasOwnProperty.call(proto, 'constructor') ? (proto.constructor as Constructor) : undefined;
    for (const [b, name] of BUILTINS_WITH_HIDDEN_STATE) {
      if (obj instanceof b) {
        this.fail(path, `it is a ${name}`, owner, field, `A ${name} keeps its contents in internal slots that cannot be saved; store plain data instead`);
      }
    }
    const name = ctor && ctor.prototype === proto ? classNameOf(ctor) : undefined;
    if (name === undefined) {
      const cls = ctor?.name || 'an anonymous class';
      this.fail(path, `it is an instance of ${cls}, which is not registered for serialization`, owner, field,
        `Register it before saving (and before loading): registerClass('${ctor?.name || 'Name'}', ${ctor?.name || 'TheClass'}) from src/serialization/registry.js, or add it to the default list in src/serialization/registry.ts`);
    }
    if (obj instanceof Module || obj instanceof Criterion) owner = { path, desc: describeOwner(obj, path) };
    this.classes.add(name);
    this.queue.push({ obj, id, path, owner });
    return id;
  }

  private viewRef(v: ArrayBufferView, path: string, owner: Owner | null, field: string, direct: boolean): number {
    const known = this.views.get(v);
    if (known) {
      if (direct) known.full = true;
      return known.id;
    }
    let type: ViewType;
    try {
      type = viewTypeOf(v);
    } catch (e) {
      return this.fail(path, (e as Error).message, owner, field, 'Use a standard typed array');
    }
    const id = this.objects.length;
    this.objects.push(null);
    this.ids.set(v, id);
    const length = type === 'DataView' ? v.byteLength : (v as Float32Array).length;
    const info: ViewInfo = { view: v, id, type, length, full: direct, tensors: [], lo: Infinity, hi: -Infinity };
    this.views.set(v, info);
    this.group(v.buffer).views.push(info);
    return id;
  }

  private group(buffer: ArrayBufferLike): Group {
    let g = this.groups.get(buffer);
    if (!g) {
      g = { buffer, views: [], bufferIds: [] };
      this.groups.set(buffer, g);
    }
    return g;
  }

  private drain(): void {
    while (this.head < this.queue.length) this.encodeObject(this.queue[this.head++]);
    this.queue.length = this.head = 0;
  }

  private fields(obj: object, path: string, owner: Owner | null): Fields {
    const out: Fields = Object.create(null);
    const proto = Object.getPrototypeOf(obj) as { constructor?: Constructor } | null;
    if (proto?.constructor && isTransientClass(proto.constructor)) return out;
    const dropActivations = !this.opts.activations && (obj instanceof Module || obj instanceof Criterion);
    for (const key of Reflect.ownKeys(obj)) {
      const d = Object.getOwnPropertyDescriptor(obj, key)!;
      if (!d.enumerable) continue;
      if (typeof key === 'symbol') {
        this.fail(path, `it has a symbol-keyed property ${String(key)}`, owner, String(key), 'Symbol keys cannot be written to a file: use a string key');
      }
      const fp = fieldPath(path, key);
      if (d.get || d.set) this.fail(fp, 'it is an accessor (getter/setter) property', owner, key, 'Only data properties are saved; store the value in a plain field');
      let v = d.value;
      const vProto = v !== null && typeof v === 'object' ? (Object.getPrototypeOf(v) as { constructor?: Constructor } | null) : null;
      if (vProto?.constructor && isDroppedClass(vProto.constructor)) v = undefined;
      if (dropActivations && (key === 'output' || key === 'gradInput') && v !== null && typeof v === 'object' && (v instanceof Tensor || Array.isArray(v))) {
        // a table stays a table (containers refill their output arrays in place)
        v = Array.isArray(v) ? [] : this.emptyActivation;
      }
      out[key] = this.value(v, fp, owner, key);
    }
    return out;
  }

  private encodeObject({ obj, id, path, owner }: Pending): void {
    const frozen = Object.isFrozen(obj) ? { frozen: true as const } : {};
    if (obj instanceof Tensor && Object.getPrototypeOf(obj) === Tensor.prototype) {
      this.objects[id] = this.encodeTensor(obj, path, owner);
      return;
    }
    if (Array.isArray(obj)) {
      const items: JsonValue[] = new Array(obj.length);
      let present = 0;
      for (let i = 0; i < obj.length; i++) {
        if (i in obj) present++;
        items[i] = this.value(obj[i], `${path}[${i}]`, owner, `${i}`);
      }
      if (Object.keys(obj).length !== present) {
        this.fail(path, 'it is an array with non-index properties', owner, path.slice(path.lastIndexOf('.') + 1), 'Only array elements are saved; use a plain object for named values');
      }
      this.objects[id] = { kind: 'array', items, ...frozen };
      return;
    }
    if (obj instanceof Map) {
      const entries: [JsonValue, JsonValue][] = [];
      let i = 0;
      for (const [k, v] of obj) {
        const kd = typeof k === 'string' ? JSON.stringify(k) : typeof k === 'number' ? String(k) : `<key ${i}>`;
        entries.push([this.value(k, `${path}.keys()[${i}]`, owner, `key ${i}`), this.value(v, `${path}.get(${kd})`, owner, `entry ${kd}`)]);
        i++;
      }
      this.objects[id] = { kind: 'map', entries };
      return;
    }
    if (obj instanceof Set) {
      const items: JsonValue[] = [];
      let i = 0;
      for (const v of obj) items.push(this.value(v, `${path}.values()[${i++}]`, owner, `element ${i - 1}`));
      this.objects[id] = { kind: 'set', items };
      return;
    }
    if (obj instanceof Date) {
      this.objects[id] = { kind: 'date', time: this.value(obj.getTime(), path, owner, 'time') };
      return;
    }
    const proto = Object.getPrototypeOf(obj);
    if (proto === Object.prototype || proto === null) {
      this.objects[id] = { kind: 'object', proto: proto === null ? 'null' : 'object', fields: this.fields(obj, path, owner), ...frozen };
      return;
    }
    const name = classNameOf(proto.constructor as Constructor);
    if (name === undefined) this.fail(path, 'it is an object with a built-in prototype but not a genuine instance of it', owner, path, 'Use a real array, Map, Set or Date');
    this.objects[id] = { kind: 'instance', class: name, fields: this.fields(obj, path, owner), ...frozen };
  }

  private encodeTensor(t: Tensor, path: string, owner: Owner | null): ObjectEntry {
    const storageId = this.viewRef(t.data, `${path}.data`, owner, 'data', false);
    const vi = this.views.get(t.data)!;
    const entry: Extract<ObjectEntry, { kind: 'tensor' }> = {
      kind: 'tensor', dtype: t.dtype, shape: [...t.shape], strides: [...t.strides], offset: t.offset, storage: { ref: storageId },
    };
    if (t.numel > 0) {
      let lo = t.offset, hi = t.offset;
      for (let d = 0; d < t.ndim; d++) {
        const span = (t.shape[d] - 1) * t.strides[d];
        if (span < 0) lo += span;
        else hi += span;
      }
      vi.lo = Math.min(vi.lo, lo);
      vi.hi = Math.max(vi.hi, hi + 1);
    }
    vi.tensors.push({ t, entry });
    const known = new Set(['data', 'dtype', 'shape', 'strides', 'offset']);
    const extraKeys = Object.keys(t).filter((k) => !known.has(k));
    if (extraKeys.length > 0) {
      const fields: Fields = Object.create(null);
      for (const k of extraKeys) fields[k] = this.value((t as unknown as Record<string, unknown>)[k], fieldPath(path, k), owner, k);
      entry.fields = fields;
    }
    return entry;
  }

  /**
   * Lays out the blobs: one per ArrayBuffer, covering the bytes its views use (a tensor keeps only
   * the elements it can reach; a typed array referenced directly keeps all of them), and fills in
   * the typed-array, array-buffer and tensor entries with offsets relative to it.
   */
  layoutBlobs(): { blobs: BlobEntry[]; sources: (Uint8Array | null)[]; dataLength: number } {
    const blobs: BlobEntry[] = [];
    const sources: (Uint8Array | null)[] = [];
    let cursor = 0;
    for (const g of this.groups.values()) {
      const whole = g.bufferIds;
      let start = Infinity, end = -Infinity;
      for (const vi of g.views) {
        const bpe = VIEW_TYPES[vi.type].bytes;
        if (vi.full) {
          vi.lo = 0;
          vi.hi = vi.length;
        } else if (vi.hi <= vi.lo) {
          vi.lo = vi.hi = 0;
          continue;
        }
        if (vi.hi > vi.lo) {
          start = Math.min(start, vi.view.byteOffset + vi.lo * bpe);
          end = Math.max(end, vi.view.byteOffset + vi.hi * bpe);
        }
      }
      if (whole.length > 0) {
        start = 0;
        end = g.buffer.byteLength;
      } else if (end <= start) {
        start = end = 0;
      } else {
        start -= start % 8; // keeps every view's offset a multiple of its element size
      }
      const byteLength = end - start;
      const types = new Set(g.views.map((vi) => vi.type));
      const only = types.size === 1 && whole.length === 0 ? VIEW_TYPES[[...types][0]] : null;
      const elem = only ? only.bytes : 1;
      const allTensors = g.views.flatMap((vi) => vi.tensors.map((x) => x.t));
      const zero = !this.opts.gradients && whole.length === 0 && g.views.every((vi) => !vi.full) && allTensors.length > 0 &&
        allTensors.every((t) => this.gradientTensors.has(t));
      const index = blobs.length;
      const shared = typeof SharedArrayBuffer === 'function' && g.buffer instanceof SharedArrayBuffer;
      blobs.push({ offset: cursor, byteLength, dtype: only ? only.dtype : 'bytes', shape: [byteLength / elem], shared, zero });
      sources.push(zero || byteLength === 0 ? null : new Uint8Array(g.buffer, start, byteLength));
      if (!zero) cursor = align(cursor + byteLength, BLOB_ALIGN);
      for (const id of whole) this.objects[id] = { kind: 'arraybuffer', blob: index };
      for (const vi of g.views) {
        const bpe = VIEW_TYPES[vi.type].bytes;
        const empty = vi.hi <= vi.lo;
        this.objects[vi.id] = {
          kind: 'typedarray', type: vi.type, blob: index,
          byteOffset: empty ? 0 : vi.view.byteOffset + vi.lo * bpe - start, length: empty ? 0 : vi.hi - vi.lo,
        };
        for (const { t, entry } of vi.tensors) entry.offset = t.numel > 0 ? t.offset - vi.lo : 0;
      }
    }
    return { blobs, sources, dataLength: cursor };
  }
}

// ---- public API --------------------------------------------------------------------------------

/** Throws unless `v` is plain JSON data. */
function checkJson(v: unknown, path: string, seen: Set<object>): void {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new SerializationError('E_UNSERIALIZABLE', `cannot save metadata ${path}: ${v} is not a finite number; metadata is plain JSON (put other values in \`extra\`)`);
    return;
  }
  if (typeof v === 'object') {
    if (seen.has(v)) throw new SerializationError('E_UNSERIALIZABLE', `cannot save metadata ${path}: it refers back to itself; metadata is plain JSON (put object graphs in \`extra\`)`);
    seen.add(v);
    const proto = Object.getPrototypeOf(v);
    if (Array.isArray(v) && proto === Array.prototype) v.forEach((x, i) => checkJson(x, `${path}[${i}]`, seen));
    else if (proto === Object.prototype || proto === null) for (const [k, x] of Object.entries(v)) checkJson(x, fieldPath(path, k), seen);
    else throw new SerializationError('E_UNSERIALIZABLE', `cannot save metadata ${path}: a ${proto?.constructor?.name ?? 'object'} is not plain JSON (put tensors, typed arrays and class instances in \`extra\`)`);
    seen.delete(v);
    return;
  }
  throw new SerializationError('E_UNSERIALIZABLE', `cannot save metadata ${path}: a ${typeof v} is not plain JSON`);
}

/** Mirrors Module's compaction test: every parameter a consecutive contiguous view of one buffer, filling it. */
function compaction(model: unknown): { compacted: boolean; shared: boolean; gradients: Set<Tensor> } {
  if (!(model instanceof Module)) return { compacted: false, shared: false, gradients: new Set() };
  const { weights, gradients } = model.parameters();
  const set = new Set(gradients);
  if (weights.length === 0) return { compacted: false, shared: false, gradients: set };
  const data = weights[0].data, grad = gradients[0].data;
  let off = 0;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i], g = gradients[i];
    if (w.data !== data || g.data !== grad || w.offset !== off || g.offset !== off || !w.isContiguous() || !g.isContiguous()) {
      return { compacted: false, shared: false, gradients: set };
    }
    off += w.numel;
  }
  const compacted = off === data.length && off === grad.length;
  const shared = compacted && typeof SharedArrayBuffer === 'function' && data.buffer instanceof SharedArrayBuffer;
  return { compacted, shared, gradients: set };
}

function withPrefix<T>(prefix: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof SerializationError) e.message = `${prefix}: ${e.message}`;
    throw e;
  }
}

function encode(model: unknown, opts: SaveOptions, requireObject = true): Uint8Array {
  requireLittleEndian('saving');
  if (requireObject && (model === null || typeof model !== 'object')) {
    throw new SerializationError('E_UNSERIALIZABLE', `expected a module to save, got ${model === null ? 'null' : typeof model}`);
  }
  const user = opts.metadata ?? {};
  if (user === null || typeof user !== 'object' || Array.isArray(user)) throw new SerializationError('E_UNSERIALIZABLE', 'metadata must be a plain object');
  checkJson(user, 'metadata', new Set());
  const c = compaction(model);
  const enc = new Encoder(opts, c.gradients);
  const root = enc.encodeRoot(model, 'model');
  const hasExtra = opts.extra !== undefined;
  const extra = hasExtra ? enc.encodeRoot(opts.extra, 'extra') : undefined;
  const { blobs, sources, dataLength } = enc.layoutBlobs();
  const rootEntry = root !== null && typeof root === 'object' && 'ref' in root ? enc.objects[root.ref] : null;
  const header: FileHeader = {
    format: FORMAT_NAME,
    metadata: {
      libraryVersion: libraryVersion(),
      createdAt: new Date().toISOString(),
      modelClass: rootEntry?.kind === 'instance' ? rootEntry.class : null,
      user,
    },
    compacted: c.compacted,
    compactedShared: c.shared,
    byteOrder: 'little',
    classes: [...enc.classes].sort(),
    root,
    ...(hasExtra ? { extra } : {}),
    objects: enc.objects as ObjectEntry[],
    blobs,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const start = dataStart(json.length);
  const total = start + dataLength + TRAILER_BYTES;
  if (json.length > 0xffffffff) throw new SerializationError('E_UNSUPPORTED', `the header is ${json.length} bytes, over the 4 GiB limit`);
  const out = new Uint8Array(total);
  writePreamble(out, { version: FORMAT_VERSION, headerLength: json.length, totalLength: total });
  out.set(json, PREAMBLE_BYTES);
  blobs.forEach((b, i) => {
    const src = sources[i];
    if (src) out.set(src, start + b.offset); // copies, so the bytes hashed are the bytes written
  });
  const digest = createHash('sha256').update(out.subarray(0, total - TRAILER_BYTES)).digest();
  out.set(digest, total - TRAILER_BYTES);
  return out;
}

/** The model file as bytes, for shipping a model without touching the disk. */
export function serializeModel(model: object, opts: SaveOptions = {}): Uint8Array {
  return withPrefix('serializeModel', () => encode(model, opts));
}

/**
 * Any value the format holds (a module, a criterion, plain data...) as model-file bytes; the
 * engine ships modules and criterions to workers this way. deserializeObject reverses it.
 */
export function serializeObject(value: unknown, opts: SaveOptions = {}): Uint8Array {
  return withPrefix('serializeObject', () => encode(value, opts, false));
}

function tempPathFor(path: string): string {
  const abs = resolve(path);
  return join(dirname(abs), `.${basename(abs)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Writes a model file atomically: serialises in memory first (an error there touches no file),
 * writes and fsyncs a temporary file in the same directory, then renames it over `path`. An
 * interrupted save leaves the previous file intact.
 */
export async function saveModel(path: string, model: object, opts: SaveOptions = {}): Promise<void> {
  const bytes = withPrefix(`saveModel(${path})`, () => encode(model, opts));
  const tmp = tempPathFor(path);
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(tmp, 'wx');
    await fh.writeFile(bytes);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  await syncDir(path);
}

/** Makes the rename itself durable where the platform allows fsync on a directory (best effort). */
async function syncDir(path: string): Promise<void> {
  try {
    const d = await open(dirname(resolve(path)), 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // not supported here (e.g. Windows): the file itself was synced before the rename
  }
}

function syncDirSync(path: string): void {
  try {
    const d = openSync(dirname(resolve(path)), 'r');
    try {
      fsyncSync(d);
    } finally {
      closeSync(d);
    }
  } catch {
    // see syncDir
  }
}

/** saveModel, synchronously. */
export function saveModelSync(path: string, model: object, opts: SaveOptions = {}): void {
  const bytes = withPrefix(`saveModelSync(${path})`, () => encode(model, opts));
  const tmp = tempPathFor(path);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx');
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // already failing
      }
    }
    rmSync(tmp, { force: true });
    throw e;
  }
  syncDirSync(path);
}
