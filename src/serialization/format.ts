/**
 * The bigdl-ts model file format: byte layout, header types and shared constants.
 * docs/MODEL_FORMAT.md documents every byte; keep the two in step.
 *
 *   offset  size  field
 *   0       8     magic: 89 42 49 47 44 4C 0D 0A ("\x89BIGDL\r\n")
 *   8       4     format version, u32 little endian
 *   12      4     header length H in bytes, u32 little endian
 *   16      8     total file length T in bytes (trailer included), u64 little endian
 *   24      H     header: UTF-8 JSON (FileHeader)
 *   24+H    pad   zero bytes up to the data section start D = align64(24 + H)
 *   D       L     data section: blobs, each starting at a multiple of 64 from D, zero padded
 *   D+L     32    SHA-256 of bytes [0, D+L)
 */

/** "\x89BIGDL\r\n": a non-ASCII first byte and CR LF catch text-mode transfers, as PNG's magic does. */
export const MAGIC = Uint8Array.of(0x89, 0x42, 0x49, 0x47, 0x44, 0x4c, 0x0d, 0x0a);
/** The version this code writes, and the newest it reads. */
export const FORMAT_VERSION = 1;
/** The oldest version this code reads. */
export const MIN_FORMAT_VERSION = 1;
/** Bytes before the header: magic, version, header length, total length. */
export const PREAMBLE_BYTES = 24;
export const TRAILER_BYTES = 32;
/** Blobs (and the data section) are aligned to this many bytes from the start of the file. */
export const BLOB_ALIGN = 64;
export const FORMAT_NAME = 'bigdl-ts-model';

export function align(n: number, to: number = BLOB_ALIGN): number {
  return Math.ceil(n / to) * to;
}

/** Error codes carried by SerializationError, for callers that branch on the failure. */
export type SerializationErrorCode =
  | 'E_MAGIC' // not a model file
  | 'E_VERSION' // written by a newer (or invalid) format version
  | 'E_TRUNCATED' // shorter than its header says
  | 'E_CHECKSUM' // bytes changed after writing
  | 'E_CORRUPT' // structurally invalid content
  | 'E_UNKNOWN_CLASS' // a class name that is not registered
  | 'E_UNSERIALIZABLE' // saving met a function, symbol, unregistered class, ...
  | 'E_UNSUPPORTED'; // e.g. a big-endian host

export class SerializationError extends Error {
  constructor(readonly code: SerializationErrorCode, message: string) {
    super(message);
    this.name = 'SerializationError';
  }
}

// ---- typed arrays ------------------------------------------------------------------------------

/** Typed-array kinds a blob view may have; `dtype` is the name used in the blob table. */
export const VIEW_TYPES = {
  Float32Array: { ctor: Float32Array, dtype: 'float32', bytes: 4 },
  Int32Array: { ctor: Int32Array, dtype: 'int32', bytes: 4 },
  Float64Array: { ctor: Float64Array, dtype: 'float64', bytes: 8 },
  Uint8Array: { ctor: Uint8Array, dtype: 'uint8', bytes: 1 },
  Uint8ClampedArray: { ctor: Uint8ClampedArray, dtype: 'uint8clamped', bytes: 1 },
  Int8Array: { ctor: Int8Array, dtype: 'int8', bytes: 1 },
  Int16Array: { ctor: Int16Array, dtype: 'int16', bytes: 2 },
  Uint16Array: { ctor: Uint16Array, dtype: 'uint16', bytes: 2 },
  Uint32Array: { ctor: Uint32Array, dtype: 'uint32', bytes: 4 },
  BigInt64Array: { ctor: BigInt64Array, dtype: 'int64', bytes: 8 },
  BigUint64Array: { ctor: BigUint64Array, dtype: 'uint64', bytes: 8 },
  DataView: { ctor: DataView, dtype: 'bytes', bytes: 1 },
} as const;
export type ViewType = keyof typeof VIEW_TYPES;

/** The kind of a typed array or DataView (subclasses such as Buffer count as their base type). */
export function viewTypeOf(v: ArrayBufferView): ViewType {
  for (const name of Object.keys(VIEW_TYPES) as ViewType[]) {
    if (v instanceof VIEW_TYPES[name].ctor) return name;
  }
  throw new SerializationError('E_UNSERIALIZABLE', `unsupported ArrayBuffer view ${Object.prototype.toString.call(v)}`);
}

// ---- header JSON -------------------------------------------------------------------------------

/**
 * An inline value: a JSON string, boolean, null or finite number (not -0), or a one-key tagged
 * object. Every JSON object in a value position is a tag, never data.
 */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | { ref: number } // the object with this id
  | { num: 'NaN' | 'Infinity' | '-Infinity' | '-0' }
  | { undefined: true }
  | { bigint: string };

export type Fields = Record<string, JsonValue>;

/** One entry of the object table; its index is its id. */
export type ObjectEntry =
  | { kind: 'object'; proto: 'object' | 'null'; fields: Fields; frozen?: true }
  | { kind: 'instance'; class: string; fields: Fields; frozen?: true }
  | { kind: 'array'; items: JsonValue[]; frozen?: true }
  | { kind: 'map'; entries: [JsonValue, JsonValue][] }
  | { kind: 'set'; items: JsonValue[] }
  | { kind: 'date'; time: JsonValue }
  | { kind: 'singleton'; name: string }
  | { kind: 'typedarray'; type: ViewType; blob: number; byteOffset: number; length: number }
  | { kind: 'arraybuffer'; blob: number }
  | {
    kind: 'tensor';
    dtype: 'float32' | 'int32';
    shape: number[];
    strides: number[];
    offset: number;
    /** a typedarray entry: Float32Array for float32, Int32Array for int32 */
    storage: JsonValue;
    /** own fields of the Tensor object beyond the five above (none today) */
    fields?: Fields;
  };

export interface BlobEntry {
  /** bytes from the start of the data section; a multiple of 64 */
  offset: number;
  byteLength: number;
  /** element type when every view of the blob has the same one, else 'bytes' */
  dtype: string;
  /** [elements] (byteLength / element size) */
  shape: number[];
  /** recreate as a SharedArrayBuffer */
  shared: boolean;
  /** all zeros and not stored (parameter gradients saved without `gradients: true`): occupies no bytes */
  zero: boolean;
}

export interface HeaderMetadata {
  libraryVersion: string;
  createdAt: string;
  /** registered class name of the model (null when it is not a class instance) */
  modelClass: string | null;
  user: Record<string, unknown>;
}

export interface FileHeader {
  format: typeof FORMAT_NAME;
  metadata: HeaderMetadata;
  /** the model's parameters were compacted (getParameters()); the loader compacts again */
  compacted: boolean;
  /** compacted into SharedArrayBuffer storage (getParameters({ shared: true })) */
  compactedShared: boolean;
  /** little endian is the only byte order written so far */
  byteOrder: 'little';
  /** every registered class name the object table uses, sorted */
  classes: string[];
  root: JsonValue;
  /** absent when no extra state was saved */
  extra?: JsonValue;
  objects: ObjectEntry[];
  blobs: BlobEntry[];
}

/** What loading returns as `metadata`. */
export interface ModelMetadata {
  formatVersion: number;
  libraryVersion: string;
  createdAt: string;
  modelClass: string | null;
  compacted: boolean;
  user: Record<string, unknown>;
}

// ---- preamble ----------------------------------------------------------------------------------

export interface Preamble {
  version: number;
  headerLength: number;
  totalLength: number;
}

export function writePreamble(out: Uint8Array, p: Preamble): void {
  out.set(MAGIC, 0);
  const dv = new DataView(out.buffer, out.byteOffset, PREAMBLE_BYTES);
  dv.setUint32(8, p.version, true);
  dv.setUint32(12, p.headerLength, true);
  dv.setBigUint64(16, BigInt(p.totalLength), true);
}

/** Where the data section starts for a header of `headerLength` bytes. */
export function dataStart(headerLength: number): number {
  return align(PREAMBLE_BYTES + headerLength);
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}
