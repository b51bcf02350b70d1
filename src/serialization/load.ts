/**
 * Loading: checks the file (magic, version, lengths, SHA-256, blob bounds), then rebuilds the object
 * graph. Loading never runs code from the file and never calls a constructor of a registered
 * class: instances are Object.create(RegisteredClass.prototype) with their fields defined as data
 * properties, and only registered class names are accepted.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Module } from '../nn/module.js';
import { Tensor } from '../tensor/tensor.js';
import {
  FORMAT_NAME, FORMAT_VERSION, MAGIC, MIN_FORMAT_VERSION, PREAMBLE_BYTES, TRAILER_BYTES, VIEW_TYPES, SerializationError,
  dataStart, hex,
  type FileHeader, type JsonValue, type ModelMetadata, type ObjectEntry, type ViewType,
} from './format.js';
import { classByName, singletonByName, unknownClassError } from './registry.js';
import { libraryVersion, requireLittleEndian } from './save.js';

export interface LoadedModel<M = Module<any, any>> {
  model: M;
  metadata: ModelMetadata;
  /** the `extra` given to save, or undefined */
  extra: unknown;
}

function corrupt(msg: string): SerializationError {
  return new SerializationError('E_CORRUPT', `corrupted: ${msg}`);
}

function isInt(x: unknown, min = 0): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= min;
}

/** Checks the preamble, lengths and checksum and parses the header; builds no objects. */
export function readModelHeader(bytes: Uint8Array): { formatVersion: number; header: FileHeader; data: Uint8Array } {
  const n = bytes.length;
  for (let i = 0; i < Math.min(n, MAGIC.length); i++) {
    if (bytes[i] !== MAGIC[i]) {
      throw new SerializationError('E_MAGIC', `not a bigdl-ts model file: it starts with bytes ${hex(bytes.subarray(0, Math.min(n, 8)))}, a model file starts with ${hex(MAGIC)}`);
    }
  }
  if (n < PREAMBLE_BYTES) {
    throw new SerializationError('E_TRUNCATED', `truncated: the file is ${n} bytes, shorter than the ${PREAMBLE_BYTES}-byte preamble (a model file is at least ${dataStart(0) + TRAILER_BYTES} bytes)`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, PREAMBLE_BYTES);
  const version = dv.getUint32(8, true);
  if (version > FORMAT_VERSION) {
    throw new SerializationError('E_VERSION', `the file uses model format version ${version}, but this bigdl-ts (${libraryVersion()}) supports format version ${FORMAT_VERSION}${MIN_FORMAT_VERSION < FORMAT_VERSION ? ` (and back to ${MIN_FORMAT_VERSION})` : ''}: upgrade bigdl-ts to load it`);
  }
  if (version < MIN_FORMAT_VERSION) throw new SerializationError('E_VERSION', `invalid model format version ${version}; this bigdl-ts supports format version ${FORMAT_VERSION}`);
  const headerLength = dv.getUint32(12, true);
  const total = Number(dv.getBigUint64(16, true));
  const start = dataStart(headerLength);
  if (!Number.isSafeInteger(total) || total < start + TRAILER_BYTES) {
    throw corrupt(`the preamble gives a total length of ${total} bytes, too small for a ${headerLength}-byte header (at least ${start + TRAILER_BYTES})`);
  }
  if (n < total) {
    throw new SerializationError('E_TRUNCATED', `truncated: expected ${total} bytes (the length recorded in the file), got ${n}; ${total - n} bytes are missing (interrupted copy or download?)`);
  }
  if (n > total) throw corrupt(`expected ${total} bytes (the length recorded in the file), got ${n}: ${n - total} unexpected trailing bytes`);
  const body = bytes.subarray(0, total - TRAILER_BYTES);
  const digest = createHash('sha256').update(body).digest();
  const stored = bytes.subarray(total - TRAILER_BYTES, total);
  let diff = 0;
  for (let i = 0; i < TRAILER_BYTES; i++) diff |= digest[i] ^ stored[i];
  if (diff !== 0) {
    throw new SerializationError('E_CHECKSUM', 'corrupted: checksum mismatch: the SHA-256 of the file does not match the one stored in its last 32 bytes; the file was damaged or modified after it was written');
  }
  let header: FileHeader;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerLength)));
  } catch (e) {
    throw corrupt(`the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || header.format !== FORMAT_NAME) throw corrupt(`the header is not a ${FORMAT_NAME} header`);
  if (header.byteOrder !== 'little') throw corrupt(`unsupported byte order ${JSON.stringify(header.byteOrder)}`);
  if (!Array.isArray(header.objects) || !Array.isArray(header.blobs)) throw corrupt('the header lacks its object or blob table');
  return { formatVersion: version, header, data: bytes.subarray(start, total - TRAILER_BYTES) };
}

/** One ArrayBuffer (or SharedArrayBuffer) per blob, with the blob's bytes copied in. */
function materialiseBlobs(header: FileHeader, data: Uint8Array): ArrayBufferLike[] {
  return header.blobs.map((b, i) => {
    if (b === null || typeof b !== 'object' || !isInt(b.offset) || !isInt(b.byteLength) || b.offset % 64 !== 0) {
      throw corrupt(`blob ${i} has an invalid offset or length`);
    }
    if (!b.zero && b.offset + b.byteLength > data.length) {
      throw corrupt(`blob ${i} (${b.byteLength} bytes at data offset ${b.offset}) does not fit the ${data.length}-byte data section`);
    }
    if (b.shared && typeof SharedArrayBuffer !== 'function') throw new SerializationError('E_UNSUPPORTED', `blob ${i} is shared memory, but SharedArrayBuffer is unavailable`);
    const buf = b.shared ? new SharedArrayBuffer(b.byteLength) : new ArrayBuffer(b.byteLength);
    if (!b.zero && b.byteLength > 0) new Uint8Array(buf).set(data.subarray(b.offset, b.offset + b.byteLength));
    return buf;
  });
}

type TensorEntry = Extract<ObjectEntry, { kind: 'tensor' }>;

class Decoder {
  readonly objs: unknown[];
  private readonly toFreeze: object[] = [];

  constructor(private readonly entries: ObjectEntry[], private readonly blobs: ArrayBufferLike[]) {
    this.objs = new Array(entries.length);
  }

  run(): void {
    const unknown = new Set<string>();
    for (const e of this.entries) {
      if (e === null || typeof e !== 'object') throw corrupt('an object table entry is not an object');
      if (e.kind === 'instance' && (typeof e.class !== 'string' || !classByName(e.class))) unknown.add(String(e.class));
    }
    if (unknown.size > 0) throw unknownClassError([...unknown].sort());
    for (const e of this.entries) {
      if (e.kind === 'singleton' && (typeof e.name !== 'string' || !singletonByName(e.name))) {
        throw new SerializationError('E_UNKNOWN_CLASS', `the file refers to the process-wide object '${e.name}', which is not registered: call registerSingleton('${e.name}', obj) before loading`);
      }
    }
    // 1. create every object, empty; storage first since tensors need it
    this.entries.forEach((e, id) => {
      if (e.kind !== 'tensor') this.objs[id] = this.create(e, id);
    });
    this.entries.forEach((e, id) => {
      if (e.kind === 'tensor') this.objs[id] = this.tensor(e, id);
    });
    // 2. fill them in
    this.entries.forEach((e, id) => this.fill(e, id));
    for (const o of this.toFreeze) Object.freeze(o);
  }

  private create(e: ObjectEntry, id: number): unknown {
    switch (e.kind) {
      case 'object':
        if (e.proto !== 'object' && e.proto !== 'null') throw corrupt(`object ${id} has prototype ${JSON.stringify(e.proto)}`);
        return Object.create(e.proto === 'null' ? null : Object.prototype);
      case 'instance':
        return Object.create(classByName(e.class)!.prototype);
      case 'array':
        return [];
      case 'map':
        return new Map();
      case 'set':
        return new Set();
      case 'date': {
        const t = this.value(e.time);
        if (typeof t !== 'number') throw corrupt(`date ${id} has a non-numeric time`);
        return new Date(t);
      }
      case 'singleton': {
        return singletonByName(e.name); // checked in run()
      }
      case 'arraybuffer':
        if (!isInt(e.blob) || e.blob >= this.blobs.length) throw corrupt(`array buffer ${id} refers to blob ${e.blob} of ${this.blobs.length}`);
        return this.blobs[e.blob];
      case 'typedarray': {
        if (typeof e.type !== 'string' || !Object.prototype.hasOwnProperty.call(VIEW_TYPES, e.type)) throw corrupt(`typed array ${id} has unknown type ${JSON.stringify(e.type)}`);
        const vt = VIEW_TYPES[e.type as ViewType];
        if (!isInt(e.blob) || e.blob >= this.blobs.length) throw corrupt(`typed array ${id} refers to blob ${e.blob} of ${this.blobs.length}`);
        const buf = this.blobs[e.blob];
        if (!isInt(e.byteOffset) || !isInt(e.length) || e.byteOffset % vt.bytes !== 0 || e.byteOffset + e.length * vt.bytes > buf.byteLength) {
          throw corrupt(`typed array ${id} (${e.type}, ${e.length} elements at byte ${e.byteOffset}) does not fit blob ${e.blob} of ${buf.byteLength} bytes`);
        }
        return new (vt.ctor as unknown as new (b: ArrayBufferLike, offset: number, length: number) => ArrayBufferView)(buf, e.byteOffset, e.length);
      }
      case 'tensor':
        return undefined;
      default:
        throw corrupt(`object ${id} has unknown kind ${JSON.stringify((e as { kind: unknown }).kind)}`);
    }
  }

  private tensor(e: TensorEntry, id: number): Tensor {
    const storage = this.value(e.storage);
    const want = e.dtype === 'float32' ? Float32Array : e.dtype === 'int32' ? Int32Array : null;
    if (!want) throw corrupt(`tensor ${id} has unsupported dtype ${JSON.stringify(e.dtype)}`);
    if (!(storage instanceof want)) throw corrupt(`tensor ${id} (${e.dtype}) does not refer to a ${want.name} storage`);
    if (!Array.isArray(e.shape) || !Array.isArray(e.strides) || e.shape.length !== e.strides.length || !e.shape.every((s) => isInt(s)) ||
      !e.strides.every((s) => typeof s === 'number' && Number.isSafeInteger(s)) || !isInt(e.offset)) {
      throw corrupt(`tensor ${id} has an invalid shape, strides or offset`);
    }
    try {
      return new Tensor(storage, e.shape, e.strides, e.offset);
    } catch (err) {
      throw corrupt(`tensor ${id}: ${(err as Error).message}`);
    }
  }

  private defineFields(target: object, fields: unknown, id: number): void {
    if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) throw corrupt(`object ${id} has no field table`);
    for (const key of Object.keys(fields)) {
      Object.defineProperty(target, key, { value: this.value((fields as Record<string, JsonValue>)[key]), writable: true, enumerable: true, configurable: true });
    }
  }

  private fill(e: ObjectEntry, id: number): void {
    const o = this.objs[id];
    switch (e.kind) {
      case 'object':
      case 'instance':
        this.defineFields(o as object, e.fields, id);
        if (e.frozen) this.toFreeze.push(o as object);
        return;
      case 'array': {
        if (!Array.isArray(e.items)) throw corrupt(`array ${id} has no items`);
        const arr = o as unknown[];
        for (const x of e.items) arr.push(this.value(x));
        if (e.frozen) this.toFreeze.push(arr);
        return;
      }
      case 'map': {
        if (!Array.isArray(e.entries)) throw corrupt(`map ${id} has no entries`);
        const m = o as Map<unknown, unknown>;
        for (const kv of e.entries) {
          if (!Array.isArray(kv) || kv.length !== 2) throw corrupt(`map ${id} has a malformed entry`);
          m.set(this.value(kv[0]), this.value(kv[1]));
        }
        return;
      }
      case 'set': {
        if (!Array.isArray(e.items)) throw corrupt(`set ${id} has no items`);
        for (const x of e.items) (o as Set<unknown>).add(this.value(x));
        return;
      }
      case 'tensor':
        if (e.fields !== undefined) this.defineFields(o as object, e.fields, id);
        return;
      default:
        return;
    }
  }

  value(v: JsonValue | undefined): unknown {
    if (v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return v;
    if (typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      if (keys.length === 1) {
        const r = v as Record<string, unknown>;
        switch (keys[0]) {
          case 'ref': {
            const id = r.ref;
            if (!isInt(id) || id >= this.objs.length) throw corrupt(`reference to object ${String(id)}, but there are ${this.objs.length} objects`);
            return this.objs[id];
          }
          case 'num':
            switch (r.num) {
              case 'NaN': return NaN;
              case 'Infinity': return Infinity;
              case '-Infinity': return -Infinity;
              case '-0': return -0;
            }
            break;
          case 'undefined':
            if (r.undefined === true) return undefined;
            break;
          case 'bigint':
            if (typeof r.bigint === 'string' && /^-?\d+$/.test(r.bigint)) return BigInt(r.bigint);
            break;
        }
      }
    }
    throw corrupt(`invalid value ${JSON.stringify(v)?.slice(0, 80)}`);
  }
}

function decode(bytes: Uint8Array): LoadedModel<unknown> {
  requireLittleEndian('loading');
  const { formatVersion, header, data } = readModelHeader(bytes);
  const blobs = materialiseBlobs(header, data);
  const dec = new Decoder(header.objects, blobs);
  dec.run();
  const model = dec.value(header.root);
  const extra = 'extra' in header ? dec.value(header.extra) : undefined;
  if (header.compacted) {
    if (!(model instanceof Module)) throw corrupt('the header marks a non-module as compacted');
    // the storage layout already is the compacted one; this re-establishes (and checks) it
    model.getParameters({ shared: header.compactedShared === true });
  }
  const md = header.metadata ?? ({} as FileHeader['metadata']);
  const metadata: ModelMetadata = {
    formatVersion,
    libraryVersion: String(md.libraryVersion ?? 'unknown'),
    createdAt: String(md.createdAt ?? ''),
    modelClass: typeof md.modelClass === 'string' ? md.modelClass : null,
    compacted: header.compacted === true,
    user: md.user !== null && typeof md.user === 'object' ? md.user : {},
  };
  return { model, metadata, extra };
}

function withPrefix<T>(prefix: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof SerializationError) e.message = `${prefix}: ${e.message}`;
    throw e;
  }
}

/** Rebuilds a model (and extra state) from bytes made by serializeModel or read from a model file. */
export function deserializeModel<M = Module<any, any>>(bytes: Uint8Array): LoadedModel<M> {
  return withPrefix('deserializeModel', () => decode(bytes)) as LoadedModel<M>;
}

/**
 * Rebuilds any value saved with serializeObject (or the model of a model file) from bytes: what
 * the engine uses to ship modules and criterions to workers.
 */
export function deserializeObject(bytes: Uint8Array): unknown {
  return withPrefix('deserializeObject', () => decode(bytes).model);
}

export async function loadModel<M = Module<any, any>>(path: string): Promise<LoadedModel<M>> {
  const bytes = await readFile(path);
  return withPrefix(`loadModel(${path})`, () => decode(bytes)) as LoadedModel<M>;
}

export function loadModelSync<M = Module<any, any>>(path: string): LoadedModel<M> {
  const bytes = readFileSync(path);
  return withPrefix(`loadModelSync(${path})`, () => decode(bytes)) as LoadedModel<M>;
}
