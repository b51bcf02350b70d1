import * as fs from 'node:fs';
import * as path from 'node:path';
import { maskedCrc32c } from './crc32c.js';
import type { Event, SummaryValue } from './event-writer.js';

/**
 * A small reader for the event files ./event-writer.ts writes (and TensorFlow's, for the fields
 * below): TFRecord framing with CRC checks, and Event / Summary / Value protobufs, skipping any
 * other field.
 */

export interface RecordsRead {
  records: Uint8Array[];
  /** bytes at the end that do not make a whole record (a write cut short by a crash) */
  truncatedBytes: number;
}

/**
 * Splits TFRecord framing. A trailing partial record is reported, not an error; a CRC that does
 * not match in a whole record is (the file is corrupt), naming `source` and the byte offset.
 */
export function readRecords(buf: Uint8Array, source = 'buffer'): RecordsRead {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const records: Uint8Array[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < 12) break;
    const lenCrc = view.getUint32(off + 8, true);
    if (maskedCrc32c(buf.subarray(off, off + 8)) !== lenCrc) throw new Error(`readRecords: ${source}: bad length CRC in the record at byte ${off}`);
    const len = view.getBigUint64(off, true);
    if (len > BigInt(buf.length - off - 16)) break;
    const n = Number(len);
    const data = buf.subarray(off + 12, off + 12 + n);
    if (maskedCrc32c(data) !== view.getUint32(off + 12 + n, true)) throw new Error(`readRecords: ${source}: bad data CRC in the record at byte ${off}`);
    records.push(data);
    off += n + 16;
  }
  return { records, truncatedBytes: buf.length - off };
}

class ProtoReader {
  private off = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array, private readonly what: string) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get done(): boolean {
    return this.off >= this.buf.length;
  }

  private need(n: number): void {
    if (this.off + n > this.buf.length) throw new Error(`decode ${this.what}: message ends inside a field (byte ${this.off} + ${n} of ${this.buf.length})`);
  }

  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      this.need(1);
      const b = this.buf[this.off++];
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, result);
    }
    throw new Error(`decode ${this.what}: varint longer than 10 bytes at byte ${this.off}`);
  }

  key(): { field: number; wireType: number } {
    const k = Number(this.varint());
    return { field: k >>> 3, wireType: k & 7 };
  }

  double(): number {
    this.need(8);
    const v = this.view.getFloat64(this.off, true);
    this.off += 8;
    return v;
  }

  float(): number {
    this.need(4);
    const v = this.view.getFloat32(this.off, true);
    this.off += 4;
    return v;
  }

  bytes(): Uint8Array {
    const n = Number(this.varint());
    this.need(n);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }

  string(): string {
    return new TextDecoder().decode(this.bytes());
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0: this.varint(); break;
      case 1: this.need(8); this.off += 8; break;
      case 2: this.bytes(); break;
      case 5: this.need(4); this.off += 4; break;
      default: throw new Error(`decode ${this.what}: unsupported wire type ${wireType} at byte ${this.off}`);
    }
  }

  expect(wireType: number, expected: number, field: number): void {
    if (wireType !== expected) throw new Error(`decode ${this.what}: field ${field} has wire type ${wireType}, expected ${expected}`);
  }
}

function decodeValue(buf: Uint8Array): SummaryValue {
  const r = new ProtoReader(buf, 'Summary.Value');
  const v: SummaryValue = { tag: '' };
  while (!r.done) {
    const { field, wireType } = r.key();
    if (field === 1) { r.expect(wireType, 2, field); v.tag = r.string(); }
    else if (field === 2) { r.expect(wireType, 5, field); v.simpleValue = r.float(); }
    else r.skip(wireType);
  }
  return v;
}

/** Decodes an Event protobuf (wall_time, step, file_version, summary's scalar values). */
export function decodeEvent(buf: Uint8Array): Event {
  const r = new ProtoReader(buf, 'Event');
  const e: Event = { wallTime: 0, step: 0 };
  while (!r.done) {
    const { field, wireType } = r.key();
    if (field === 1) { r.expect(wireType, 1, field); e.wallTime = r.double(); }
    else if (field === 2) { r.expect(wireType, 0, field); e.step = Number(BigInt.asIntN(64, r.varint())); }
    else if (field === 3) { r.expect(wireType, 2, field); e.fileVersion = r.string(); }
    else if (field === 5) {
      r.expect(wireType, 2, field);
      const s = new ProtoReader(r.bytes(), 'Summary');
      const value: SummaryValue[] = e.summary?.value ?? [];
      while (!s.done) {
        const k = s.key();
        if (k.field === 1) { s.expect(k.wireType, 2, k.field); value.push(decodeValue(s.bytes())); }
        else s.skip(k.wireType);
      }
      e.summary = { value };
    } else r.skip(wireType);
  }
  return e;
}

/** Every event of one file (a partial record at the end, from a crash, is ignored). */
export function readEventFile(file: string): Event[] {
  return readRecords(fs.readFileSync(file), file).records.map(decodeEvent);
}

/** The event files of a directory (names containing "tfevents"), in name order (= time order). */
export function listEventFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((n) => n.includes('tfevents')).sort().map((n) => path.join(dir, n));
}

/**
 * BigDL's FileReader.readScalar: [step, value, wallTime] of every scalar tagged `tag` in the event
 * files of `dir`, sorted by step (stable: equal steps keep file order).
 */
export function readScalars(dir: string, tag: string): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (const file of listEventFiles(dir)) {
    for (const e of readEventFile(file)) {
      for (const v of e.summary?.value ?? []) {
        if (v.tag === tag && v.simpleValue !== undefined) out.push([e.step, v.simpleValue, e.wallTime]);
      }
    }
  }
  return out.sort((a, b) => a[0] - b[0]);
}
