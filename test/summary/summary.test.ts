// CRC-32C vectors, the exact bytes of event records (checked by code written here from the
// TFRecord and protobuf specs, not by the writer's), decode round trips, and the summaries.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { crc32c, maskCrc, maskedCrc32c, unmaskCrc } from '../../src/summary/crc32c.js';
import { EventWriter, encodeEvent, eventFileName, frameRecord } from '../../src/summary/event-writer.js';
import { decodeEvent, readEventFile, readRecords } from '../../src/summary/event-reader.js';
import { TrainSummary, ValidationSummary } from '../../src/summary/summary.js';
import { Trigger } from '../../src/optim/trigger.js';
import { RandomGenerator } from '../../src/tensor/random.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bigdl-summary-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = (): string => path.join(tmp, `d${dirCount++}`);

// ---- independent reference code --------------------------------------------------------------

/** Bitwise CRC-32C (no table), straight from the definition. */
function refCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}
/** TFRecord: masked_crc = ((crc >> 15) | (crc << 17)) + 0xa282ead8, mod 2^32. */
const refMask = (crc: number): number => ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) % 2 ** 32;
const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const le64 = (v: number): number[] => [...le32(v % 2 ** 32), ...le32(Math.floor(v / 2 ** 32))];
const f64 = (v: number): number[] => Array.from(new Uint8Array(new Float64Array([v]).buffer)); // x86/arm are little-endian
const f32 = (v: number): number[] => Array.from(new Uint8Array(new Float32Array([v]).buffer));
const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));
/** uint64 length, masked crc of it, data, masked crc of data */
function refRecord(data: number[]): number[] {
  const len = le64(data.length);
  return [...len, ...le32(refMask(refCrc32c(Uint8Array.from(len)))), ...data, ...le32(refMask(refCrc32c(Uint8Array.from(data))))];
}

describe('CRC-32C', () => {
  it('standard test vectors (RFC 3720 B.4 and the check value)', () => {
    assert.equal(crc32c('123456789'), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
    assert.equal(crc32c(''), 0);
  });

  it('matches a bitwise implementation, continues, and masks', () => {
    const rng = new RandomGenerator(3);
    for (const n of [1, 7, 100, 1000]) {
      const b = Uint8Array.from({ length: n }, () => rng.randInt(256));
      assert.equal(crc32c(b), refCrc32c(b));
      const cut = Math.floor(n / 3);
      assert.equal(crc32c(b.subarray(cut), crc32c(b.subarray(0, cut))), crc32c(b));
      assert.equal(maskedCrc32c(b), refMask(refCrc32c(b)));
      assert.equal(unmaskCrc(maskCrc(crc32c(b))), crc32c(b));
    }
  });
});

describe('event records', () => {
  it('exact bytes of a scalar event and its TFRecord frame', () => {
    const event = encodeEvent({ wallTime: 1.5, step: 7, summary: { value: [{ tag: 'Loss', simpleValue: 0.25 }] } });
    const value = [0x0a, 4, ...ascii('Loss'), 0x15, ...f32(0.25)]; // tag = 1 (len-delimited), simple_value = 2 (fixed32)
    const summary = [0x0a, value.length, ...value]; // repeated Value value = 1
    const expected = [0x09, ...f64(1.5), 0x10, 7, 0x2a, summary.length, ...summary]; // wall_time = 1, step = 2, summary = 5
    assert.deepEqual(Array.from(event), expected);
    assert.deepEqual(f32(0.25), [0, 0, 0x80, 0x3e]);
    assert.deepEqual(f64(1.5).slice(6), [0xf8, 0x3f]);
    assert.equal(expected.length, 26);
    assert.deepEqual(Array.from(frameRecord(event)), refRecord(expected));
  });

  it('a writer produces exactly the header record then the scalar records', () => {
    const dir = freshDir();
    const w = new EventWriter(dir, { now: () => 1500, hostname: 'host/x' });
    assert.equal(path.basename(w.path), 'events.out.tfevents.1.host_x');
    w.addScalar('Loss', 0.25, 7);
    w.close();
    const header = [0x09, ...f64(1.5), 0x1a, 13, ...ascii('brain.Event:2')]; // step 0 is left out (proto3)
    const scalar = [0x09, ...f64(1.5), 0x10, 7, 0x2a, 13, 0x0a, 11, 0x0a, 4, ...ascii('Loss'), 0x15, ...f32(0.25)];
    assert.deepEqual(Array.from(fs.readFileSync(w.path)), [...refRecord(header), ...refRecord(scalar)]);
    assert.throws(() => w.addScalar('Loss', 1, 8), /is closed/);
    w.close(); // twice is fine
  });

  it('int64 steps as varints: multi-byte and negative; decode round trip', () => {
    const big = Array.from(encodeEvent({ wallTime: 0, step: 300 }));
    assert.deepEqual(big, [0x10, 0xac, 0x02]);
    const neg = Array.from(encodeEvent({ wallTime: 0, step: -1 }));
    assert.deepEqual(neg, [0x10, ...new Array(9).fill(0xff), 0x01]);
    for (const step of [0, 1, 127, 128, 300, -1, -300, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
      const e = { wallTime: 1234.25, step, summary: { value: [{ tag: 'a', simpleValue: -3.5 }, { tag: 'ü/ß', simpleValue: NaN }] } };
      const back = decodeEvent(encodeEvent(e));
      assert.equal(back.step, step);
      assert.equal(back.wallTime, 1234.25);
      assert.equal(back.summary!.value[0].simpleValue, -3.5);
      assert.equal(back.summary!.value[1].tag, 'ü/ß');
      assert.ok(Number.isNaN(back.summary!.value[1].simpleValue));
    }
    assert.throws(() => encodeEvent({ wallTime: 1, step: 1.5 }), /step must be a safe integer/);
    assert.throws(() => encodeEvent({ wallTime: NaN, step: 1 }), /wallTime must be a finite number/);
  });

  it('the reader skips unknown fields', () => {
    // an Event with graph_def (4, bytes) and a Value with node_name (7) and metadata (9) around the known fields
    const value = [0x3a, 1, ...ascii('n'), 0x0a, 1, ...ascii('t'), 0x4a, 2, 0x08, 0x01, 0x15, ...f32(2)];
    const data = [0x22, 3, 1, 2, 3, 0x10, 5, 0x2a, value.length + 2, 0x0a, value.length, ...value, 0x38, 0x01];
    const e = decodeEvent(Uint8Array.from(data));
    assert.deepEqual(e, { wallTime: 0, step: 5, summary: { value: [{ tag: 't', simpleValue: 2 }] } });
    assert.throws(() => decodeEvent(Uint8Array.from([0x2a, 10, 0x0a])), /decode Event: message ends inside a field/);
  });

  it('a truncated tail (a crash mid-write) is ignored; corruption is an error', () => {
    const recs = [encodeEvent({ wallTime: 1, step: 1 }), encodeEvent({ wallTime: 2, step: 2 })].map(frameRecord);
    const whole = Uint8Array.from([...recs[0], ...recs[1]]);
    for (const cut of [1, 5, 15, recs[1].length - 1]) {
      const r = readRecords(whole.subarray(0, whole.length - cut));
      assert.equal(r.records.length, 1);
      assert.equal(r.truncatedBytes, recs[1].length - cut);
    }
    assert.equal(readRecords(whole).truncatedBytes, 0);
    const bad = whole.slice();
    bad[14] ^= 1;
    assert.throws(() => readRecords(bad, 'x.tfevents'), /x.tfevents: bad data CRC in the record at byte 0/);
    const badLen = whole.slice();
    badLen[recs[0].length] ^= 1;
    assert.throws(() => readRecords(badLen), new RegExp(`bad length CRC in the record at byte ${recs[0].length}`));
  });

  it('file names, and two writers in the same second get different files', () => {
    assert.equal(eventFileName(1700000000.9, 'node1'), 'events.out.tfevents.1700000000.node1');
    const dir = freshDir();
    const a = new EventWriter(dir, { now: () => 5000, hostname: 'h' });
    const b = new EventWriter(dir, { now: () => 5000, hostname: 'h' });
    assert.notEqual(a.path, b.path);
    assert.equal(path.basename(b.path), 'events.out.tfevents.5.h.1');
    a.close();
    b.close();
    assert.equal(readEventFile(b.path)[0].fileVersion, 'brain.Event:2');
  });
});

describe('TrainSummary / ValidationSummary', () => {
  it('folders, round trip through the event file and scalars.jsonl', () => {
    const logDir = freshDir();
    let t = 1_700_000_000_000;
    const s = new TrainSummary(logDir, 'lenet', { now: () => t });
    assert.equal(s.folder, path.join(logDir, 'lenet', 'train'));
    assert.match(path.basename(s.eventFile), new RegExp(`^events\\.out\\.tfevents\\.1700000000\\.${os.hostname().replace(/[/\\]/g, '_').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    for (let step = 1; step <= 5; step++) {
      t += 1000;
      s.addScalar('Loss', 1 / step, step).addScalar('Throughput', 100 * step, step);
    }
    s.addScalar('Loss', 0.1, 0); // out of order: readScalar sorts by step
    const loss = s.readScalar('Loss');
    assert.deepEqual(loss.map((r) => r[0]), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(loss.map((r) => r[1]), [0.1, 1, 1 / 2, 1 / 3, 1 / 4, 1 / 5].map(Math.fround)); // float32 on disk
    assert.deepEqual(loss.slice(1).map((r) => r[2]), [1, 2, 3, 4, 5].map((i) => 1_700_000_000 + i));
    assert.deepEqual(s.readScalar('Throughput').map((r) => r[1]), [100, 200, 300, 400, 500]);
    assert.deepEqual(s.readScalar('nothing'), []);
    s.close();
    const lines = fs.readFileSync(path.join(s.folder, 'scalars.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 11);
    assert.deepEqual(lines[0], { tag: 'Loss', value: 1, step: 1, wallTime: 1_700_000_001 });
    assert.deepEqual(lines[3], { tag: 'Throughput', value: 200, step: 2, wallTime: 1_700_000_002 });
    assert.equal(lines[4].value, 1 / 3); // full precision in the JSON lines
    // readScalar still works after close
    assert.equal(s.readScalar('Loss').length, 6);
    assert.throws(() => s.addScalar('Loss', 1, 9), /TrainSummary.addScalar: the summary in .* is closed/);

    const v = new ValidationSummary(logDir, 'lenet');
    assert.equal(v.folder, path.join(logDir, 'lenet', 'validation'));
    v.addScalar('Top1Accuracy', 0.893, 100);
    assert.deepEqual(v.readScalar('Top1Accuracy').map((r) => r.slice(0, 2)), [[100, Math.fround(0.893)]]);
    v.close();
  });

  it('buffers writes: flushed every N scalars, after flushMillis, on flush/close', () => {
    const logDir = freshDir();
    let t = 0;
    const s = new ValidationSummary(logDir, 'app', { flushEvery: 3, flushMillis: 10_000, now: () => t });
    const size = (): number => fs.statSync(s.eventFile).size;
    const lines = (): number => fs.readFileSync(s.jsonlFile, 'utf8').split('\n').filter(Boolean).length;
    const headerSize = size();
    assert.ok(headerSize > 0, 'the header record is on disk at once');
    s.addScalar('a', 1, 1).addScalar('a', 2, 2);
    assert.equal(size(), headerSize);
    assert.equal(lines(), 0);
    s.addScalar('a', 3, 3);
    assert.ok(size() > headerSize);
    assert.equal(lines(), 3);
    const after3 = size();
    s.addScalar('a', 4, 4);
    assert.equal(size(), after3);
    t = 10_000; // time passes: the next write flushes
    s.addScalar('a', 5, 5);
    assert.equal(lines(), 5);
    s.addScalar('a', 6, 6);
    assert.equal(lines(), 5);
    s.flush();
    assert.equal(lines(), 6);
    s.addScalar('a', 7, 7);
    s.close();
    assert.equal(lines(), 7);
    assert.equal(readEventFile(s.eventFile).length, 8);
  });

  it('appends: a second run in the same folder adds a file, readScalar reads both; a cut JSON line is ended', () => {
    const logDir = freshDir();
    const a = new TrainSummary(logDir, 'app', { now: () => 1000 });
    a.addScalar('Loss', 3, 1).addScalar('Loss', 2, 2);
    a.close();
    fs.appendFileSync(a.jsonlFile, '{"tag":"Lo'); // a crash mid-line
    const b = new TrainSummary(logDir, 'app', { now: () => 1000 });
    assert.notEqual(b.eventFile, a.eventFile);
    b.addScalar('Loss', 1, 3);
    assert.deepEqual(b.readScalar('Loss').map((r) => r.slice(0, 2)), [[1, 3], [2, 2], [3, 1]]);
    b.close();
    const text = fs.readFileSync(b.jsonlFile, 'utf8').split('\n');
    assert.equal(text[2], '{"tag":"Lo');
    assert.deepEqual(JSON.parse(text[3]), { tag: 'Loss', value: 1, step: 3, wallTime: 1 });
  });

  it('non-finite values: kept in the event file, null in the JSON lines', () => {
    const s = new TrainSummary(freshDir(), 'app');
    s.addScalar('Loss', NaN, 1).addScalar('Loss', Infinity, 2);
    const r = s.readScalar('Loss');
    assert.ok(Number.isNaN(r[0][1]));
    assert.equal(r[1][1], Infinity);
    s.close();
    const lines = fs.readFileSync(s.jsonlFile, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.value), [null, null]);
  });

  it('scalars buffered when the process exits (even on an uncaught exception) are written', () => {
    const mod = new URL('../../src/summary/summary.js', import.meta.url).href;
    for (const ending of ['process.exit(0)', "throw new Error('boom')"]) {
      const logDir = freshDir();
      const code = `import { TrainSummary } from ${JSON.stringify(mod)};
        const s = new TrainSummary(${JSON.stringify(logDir)}, 'app', { flushEvery: 1000, flushMillis: Infinity });
        s.addScalar('Loss', 0.5, 1).addScalar('Loss', 0.25, 2);
        ${ending};`;
      spawnSync(process.execPath, ['--input-type=module', '-e', code], { stdio: 'ignore', timeout: 20_000 });
      const s = new TrainSummary(logDir, 'app');
      assert.deepEqual(s.readScalar('Loss').map((r) => r.slice(0, 2)), [[1, 0.5], [2, 0.25]], ending);
      s.close();
    }
  });

  it('summary triggers (BigDL defaults: every iteration)', () => {
    const s = new TrainSummary(freshDir(), 'app');
    assert.equal(s.getSummaryTrigger('Loss')!.description, 'severalIteration(1)');
    s.setSummaryTrigger('LearningRate', Trigger.severalIteration(10));
    assert.equal(s.getSummaryTrigger('LearningRate')!.description, 'severalIteration(10)');
    assert.throws(() => s.setSummaryTrigger('Parameters' as never, Trigger.everyEpoch()), /'Parameters' is not one of LearningRate, Loss, Throughput \(parameter histograms are not supported\)/);
    assert.throws(() => s.setSummaryTrigger('Loss', {} as Trigger), /is not a Trigger/);
    s.close();
  });

  it('bad arguments', () => {
    const logDir = freshDir();
    assert.throws(() => new TrainSummary(logDir, ''), /TrainSummary: appName must be a non-empty name/);
    assert.throws(() => new ValidationSummary(logDir, '../x'), /ValidationSummary: appName/);
    assert.throws(() => new TrainSummary('', 'app'), /TrainSummary: logDir must be a non-empty path/);
    assert.throws(() => new TrainSummary(logDir, 'app', { flushEvery: 0 }), /TrainSummary: flushEvery must be an integer >= 1/);
    const s = new TrainSummary(logDir, 'app');
    assert.throws(() => s.addScalar('', 1, 1), /TrainSummary.addScalar: tag must be a non-empty string/);
    assert.throws(() => s.addScalar('Loss', 1, 1.5), /TrainSummary.addScalar: step of 'Loss' must be an integer, got 1.5/);
    assert.throws(() => s.addScalar('Loss', '1' as unknown as number, 1), /TypeError|must be a number/);
    s.close();
  });
});
