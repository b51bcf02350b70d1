import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { maskedCrc32c } from './crc32c.js';

/**
 * TensorBoard event files, written without a protobuf dependency.
 *
 * A file is a sequence of TFRecords, each
 *   uint64 length (little-endian) | uint32 masked CRC-32C of those 8 bytes |
 *   data (length bytes)           | uint32 masked CRC-32C of data
 * whose data is a serialized `tensorflow.Event`:
 *   double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5;
 *   Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }
 * The first record carries file_version "brain.Event:2". Fields are written in field order, and
 * as proto3 does, a zero step and an absent file version or summary are left out (simple_value,
 * being in a oneof, is always written).
 */

export interface SummaryValue {
  tag: string;
  /** a float32 scalar; absent for value kinds this module does not decode (images, histograms) */
  simpleValue?: number;
}

export interface Event {
  /** seconds since the epoch */
  wallTime: number;
  /** an integer (int64 on disk; a safe integer here) */
  step: number;
  fileVersion?: string;
  summary?: { value: SummaryValue[] };
}

export const FILE_VERSION = 'brain.Event:2';

// ---- protobuf encoding ------------------------------------------------------------------------

class ProtoWriter {
  private bytes: number[] = [];

  private varint(v: bigint): void {
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      this.bytes.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.bytes.push(Number(x));
  }

  private key(field: number, wireType: number): void {
    this.varint(BigInt((field << 3) | wireType));
  }

  int64(field: number, v: number): void {
    this.key(field, 0);
    this.varint(BigInt(v));
  }

  double(field: number, v: number): void {
    this.key(field, 1);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.bytes.push(...b);
  }

  float(field: number, v: number): void {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.bytes.push(...b);
  }

  lengthDelimited(field: number, data: Uint8Array): void {
    this.key(field, 2);
    this.varint(BigInt(data.length));
    for (let i = 0; i < data.length; i++) this.bytes.push(data[i]);
  }

  string(field: number, s: string): void {
    this.lengthDelimited(field, new TextEncoder().encode(s));
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

function encodeValue(v: SummaryValue): Uint8Array {
  const w = new ProtoWriter();
  if (v.tag !== '') w.string(1, v.tag);
  if (v.simpleValue !== undefined) w.float(2, v.simpleValue);
  return w.finish();
}

/** The protobuf bytes of an Event. */
export function encodeEvent(e: Event): Uint8Array {
  if (typeof e.wallTime !== 'number' || !Number.isFinite(e.wallTime)) throw new RangeError(`encodeEvent: wallTime must be a finite number of seconds, got ${e.wallTime}`);
  if (!Number.isSafeInteger(e.step)) throw new RangeError(`encodeEvent: step must be a safe integer, got ${e.step}`);
  const w = new ProtoWriter();
  if (e.wallTime !== 0) w.double(1, e.wallTime);
  if (e.step !== 0) w.int64(2, e.step);
  if (e.fileVersion !== undefined && e.fileVersion !== '') w.string(3, e.fileVersion);
  if (e.summary) {
    const s = new ProtoWriter();
    for (const v of e.summary.value) s.lengthDelimited(1, encodeValue(v));
    w.lengthDelimited(5, s.finish());
  }
  return w.finish();
}

/** One TFRecord: length, masked CRC of the length, data, masked CRC of the data. */
export function frameRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length + 16);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

/** `events.out.tfevents.<seconds>.<hostname>`, as TensorFlow names them. */
export function eventFileName(seconds: number, hostname: string): string {
  return `events.out.tfevents.${Math.floor(seconds)}.${hostname.replace(/[/\\]/g, '_')}`;
}

// ---- buffered append-only files ---------------------------------------------------------------

// Open files flush what they hold when the process exits (normally, by process.exit, or after an
// uncaught exception); a kill -9 loses only what was not yet flushed.
const openFiles = new Set<AppendFile>();
let exitHook = false;

/**
 * A file written only by appending: chunks are queued and written (O_APPEND) on flush, so what a
 * flush wrote stays intact whatever happens later.
 */
export class AppendFile {
  private fd: number | null;
  private queue: Uint8Array[] = [];

  /** `exclusive`: fail if the file exists (the 'ax' flag) instead of appending to it. */
  constructor(readonly path: string, exclusive = false) {
    this.fd = fs.openSync(path, exclusive ? 'ax' : 'a');
    openFiles.add(this);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => {
        for (const f of openFiles) {
          try { f.flush(); } catch { /* nothing more can be done at exit */ }
        }
      });
    }
  }

  get pending(): number {
    return this.queue.length;
  }

  get closed(): boolean {
    return this.fd === null;
  }

  append(chunk: Uint8Array | string): void {
    if (this.fd === null) throw new Error(`AppendFile: ${this.path} is closed`);
    this.queue.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
  }

  flush(): void {
    if (this.fd === null || this.queue.length === 0) return;
    const buf = Buffer.concat(this.queue);
    this.queue = [];
    let done = 0;
    while (done < buf.length) done += fs.writeSync(this.fd, buf, done, buf.length - done);
  }

  close(): void {
    if (this.fd === null) return;
    try {
      this.flush();
    } finally {
      fs.closeSync(this.fd);
      this.fd = null;
      openFiles.delete(this);
    }
  }
}

// ---- the event writer -------------------------------------------------------------------------

export interface EventWriterOptions {
  /** flush once this many records are buffered (default 20; Infinity: only on flush/close) */
  flushEvery?: number;
  /** also flush on a write when this many ms passed since the last flush (default 5000) */
  flushMillis?: number;
  /** host name in the file name (default os.hostname()) */
  hostname?: string;
  /** clock in ms (default Date.now), for wall times and the file name */
  now?: () => number;
}

export function checkFlushOptions(who: string, opts: { flushEvery?: number; flushMillis?: number }): { flushEvery: number; flushMillis: number } {
  const flushEvery = opts.flushEvery ?? 20;
  const flushMillis = opts.flushMillis ?? 5000;
  if (!(flushEvery >= 1) || (Number.isFinite(flushEvery) && !Number.isInteger(flushEvery))) throw new RangeError(`${who}: flushEvery must be an integer >= 1 (or Infinity), got ${flushEvery}`);
  if (!(flushMillis >= 0)) throw new RangeError(`${who}: flushMillis must be >= 0 (or Infinity), got ${flushMillis}`);
  return { flushEvery, flushMillis };
}

/**
 * Writes one new event file in `dir` (created if missing), starting with the file-version
 * record, which is on disk when the constructor returns. If a file of that name exists (two
 * writers in the same second), `.1`, `.2`, ... is appended to the name; TensorBoard reads any
 * file whose name contains "tfevents".
 */
export class EventWriter {
  readonly path: string;
  private readonly file: AppendFile;
  private readonly flushEvery: number;
  private readonly flushMillis: number;
  private readonly now: () => number;
  private lastFlush: number;

  constructor(readonly dir: string, opts: EventWriterOptions = {}) {
    ({ flushEvery: this.flushEvery, flushMillis: this.flushMillis } = checkFlushOptions('EventWriter', opts));
    this.now = opts.now ?? Date.now;
    fs.mkdirSync(dir, { recursive: true });
    const t = this.now();
    const base = path.join(dir, eventFileName(t / 1000, opts.hostname ?? os.hostname()));
    let file: AppendFile | undefined;
    for (let i = 0; !file; i++) {
      const p = i === 0 ? base : `${base}.${i}`;
      try {
        file = new AppendFile(p, true);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || i >= 1000) throw e;
      }
    }
    this.file = file;
    this.path = file.path;
    this.file.append(frameRecord(encodeEvent({ wallTime: t / 1000, step: 0, fileVersion: FILE_VERSION })));
    this.file.flush();
    this.lastFlush = t;
  }

  /** Records written but not yet flushed. */
  get pending(): number {
    return this.file.pending;
  }

  get closed(): boolean {
    return this.file.closed;
  }

  /** Queues an event (wallTime defaults to now), flushing per the options. */
  addEvent(e: Omit<Event, 'wallTime'> & { wallTime?: number }): void {
    if (this.file.closed) throw new Error(`EventWriter: ${this.path} is closed`);
    const now = this.now();
    this.file.append(frameRecord(encodeEvent({ ...e, wallTime: e.wallTime ?? now / 1000 })));
    if (this.file.pending >= this.flushEvery || now - this.lastFlush >= this.flushMillis) this.flush();
  }

  /** Queues a scalar summary (simple_value, stored as float32). */
  addScalar(tag: string, value: number, step: number, wallTime?: number): void {
    if (typeof tag !== 'string' || tag === '') throw new RangeError(`EventWriter.addScalar: tag must be a non-empty string, got ${JSON.stringify(tag)}`);
    if (typeof value !== 'number') throw new TypeError(`EventWriter.addScalar: value of '${tag}' must be a number, got ${typeof value}`);
    if (!Number.isSafeInteger(step)) throw new RangeError(`EventWriter.addScalar: step of '${tag}' must be an integer, got ${step}`);
    this.addEvent({ wallTime, step, summary: { value: [{ tag, simpleValue: value }] } });
  }

  flush(): void {
    this.file.flush();
    this.lastFlush = this.now();
  }

  /** Flushes and closes; further writes throw. Closing twice is a no-op. */
  close(): void {
    this.file.close();
  }
}
