// Streaming CSV on the real files under ../shared/data (MovieLens ratings with CRLF line ends,
// Banking77's quoted text with commas, newlines and doubled quotes, MovieLens titles, the Beijing
// PM2.5 series with NA values), and malformed records under both error policies.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/package-root.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { CsvError, CsvTokenizer, readCsv, readCsvRows, type CsvValue } from '../../src/data/csv.js';
import { DataSet } from '../../src/data/dataset.js';
import { SampleToMiniBatch, Sample } from '../../src/data/sample.js';
import { Tensor } from '../../src/tensor/tensor.js';

const DATA = join(packageRoot(), '..', 'shared', 'data');
const RATINGS = join(DATA, 'movielens', 'ml-latest-small', 'ratings.csv');
const MOVIES = join(DATA, 'movielens', 'ml-latest-small', 'movies.csv');
const BANKING_TRAIN = join(DATA, 'text', 'banking77', 'train.csv');
const BANKING_TEST = join(DATA, 'text', 'banking77', 'test.csv');
const PM25 = join(DATA, 'timeseries', 'beijing_pm25_pollution.csv');

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('readCsv on real data', () => {
  it('MovieLens ratings: 100836 typed rows from a CRLF file', async () => {
    const reader = readCsv(RATINGS, { types: { userId: 'int', movieId: 'int', rating: 'number', timestamp: 'int' } });
    let n = 0, sum = 0, maxTs = 0;
    const users = new Set<number>();
    let last: Record<string, CsvValue> | undefined;
    for await (const r of reader) {
      n++;
      sum += r.rating as number;
      users.add(r.userId as number);
      maxTs = Math.max(maxTs, r.timestamp as number);
      last = r;
    }
    assert.equal(n, 100836);
    assert.equal(sum, 353083);
    assert.equal(users.size, 610);
    assert.equal(maxTs, 1537799250);
    assert.deepEqual(last, { userId: 610, movieId: 170875, rating: 3, timestamp: 1493846415 });
    assert.deepEqual(reader.columns, ['userId', 'movieId', 'rating', 'timestamp']);
    assert.deepEqual(reader.stats, { records: 100836, skipped: 0, reasons: [], lines: 100837 });
  });

  it('selects columns by name or index, as objects or arrays, and feeds a DataSet', async () => {
    const rows = readCsvRows(RATINGS, { columns: ['rating', 0], types: { rating: 'number', userId: 'int' } });
    const first = (await collect(rows)).slice(0, 2);
    assert.deepEqual(first, [[4, 1], [4, 1]]);
    assert.deepEqual(rows.columns, ['rating', 'userId']);
    await assert.rejects(collect(readCsv(RATINGS, { columns: ['stars'] })), /ratings\.csv: no column 'stars' \(columns: userId, movieId, rating, timestamp\)/);
    await assert.rejects(collect(readCsv(RATINGS, { types: { stars: 'int' } })), /types names column 'stars', which is not in the file/);

    // a re-iterable data set of (user, movie) -> rating samples, batched with float targets
    const reader = readCsvRows(RATINGS, { columns: ['userId', 'movieId', 'rating'], types: { userId: 'int', movieId: 'int', rating: 'number' } });
    const ds = DataSet.fromIterable(() => reader)
      .map(([u, m, r]) => new Sample(new Tensor(Int32Array.of(u as number, m as number), [2]), r as number))
      .transform(new SampleToMiniBatch(4096, { labelType: 'float32' }));
    let batches = 0, total = 0;
    for await (const b of ds.epoch(0)) {
      batches++;
      total += b.target!.sum().item();
      assert.equal(b.target!.dtype, 'float32');
    }
    assert.equal(batches, Math.ceil(100836 / 4096));
    assert.equal(total, 353083);
    assert.equal(await DataSet.fromIterable(() => reader).count(1), 100836, 'a second pass reopens the file');
  });

  it('Banking77: quoted text with commas, embedded newlines and doubled quotes', async () => {
    const train = await collect(readCsv(BANKING_TRAIN));
    assert.equal(train.length, 10003);
    assert.equal(new Set(train.map((r) => r.category)).size, 77);
    const expectedCategories = JSON.parse(readFileSync(join(DATA, 'text', 'banking77', 'categories.json'), 'utf8')) as string[];
    assert.deepEqual([...new Set(train.map((r) => r.category))].sort(), [...expectedCategories].sort());
    assert.deepEqual(train[0], { text: 'I am still waiting on my card?', category: 'card_arrival' });
    // a record spread over five lines, and one with doubled quotes
    assert.deepEqual(train[1290], { text: "\nI can't seem to be able to use my card\n\n\n", category: 'card_not_working' });
    assert.equal(train.filter((r) => (r.text as string).includes('\n')).length, 10);
    assert.equal(train.filter((r) => (r.text as string).includes(',')).length, 1341);
    assert.equal(train.filter((r) => (r.text as string).includes('"')).length, 21);
    assert.ok(train.some((r) => (r.text as string).includes('showing up as "pending", how long')));
    const test = readCsv(BANKING_TEST);
    assert.equal((await collect(test)).length, 3080);
    assert.equal(test.stats.lines, 3085);
  });

  it('MovieLens titles: commas and a doubled quote inside quotes', async () => {
    const movies = await collect(readCsv(MOVIES, { types: { movieId: 'int' } }));
    assert.equal(movies.length, 9742);
    assert.equal(movies.filter((m) => (m.title as string).includes(',')).length, 2079);
    assert.equal(movies.find((m) => m.movieId === 11)!.title, 'American President, The (1995)');
    assert.equal(movies.find((m) => m.movieId === 7789)!.title, '11\'09"01 - September 11 (2002)');
  });

  it('Beijing PM2.5: NA values as null in typed columns', async () => {
    const reader = readCsv(PM25, { columns: ['year', 'pm2.5', 'TEMP', 'cbwd'], types: { year: 'int', 'pm2.5': 'int', TEMP: 'number' }, nullValues: ['NA'] });
    const rows = await collect(reader);
    assert.equal(rows.length, 43824);
    assert.deepEqual(rows[0], { year: 2010, 'pm2.5': null, TEMP: -11, cbwd: 'NW' });
    const missing = rows.filter((r) => r['pm2.5'] === null).length;
    assert.ok(missing > 0 && missing < 43824 / 10, `${missing} missing`);
    // without nullValues, 'NA' is a malformed record
    await assert.rejects(collect(readCsv(PM25, { types: { 'pm2.5': 'int' } })), /beijing_pm25_pollution\.csv:2: column 'pm2\.5': "NA" is not an integer/);
  });
});

describe('CsvTokenizer', () => {
  it('gives the same records however the text is cut into chunks', () => {
    const full = readFileSync(BANKING_TRAIN, 'utf8');
    const text = full.slice(0, full.indexOf('\n', 200_000) + 1) + 'a,"b\r\nc""d"\r\ne,f\r\n"g",h';
    const parse = (chunks: string[]) => {
      const tok = new CsvTokenizer();
      const out: { fields: string[]; line: number; error: string | null }[] = [];
      for (const c of chunks) tok.push(c, out);
      tok.end(out);
      return out;
    };
    const whole = parse([text]);
    assert.deepEqual(whole.slice(-3).map((r) => r.fields), [['a', 'b\r\nc"d'], ['e', 'f'], ['g', 'h']]);
    assert.ok(whole.every((r) => r.error === null));
    const rng = new RandomGenerator(9);
    for (const maxLen of [1, 2, 7, 1000]) {
      const chunks: string[] = [];
      for (let i = 0; i < text.length;) {
        const len = 1 + rng.randInt(maxLen);
        chunks.push(text.slice(i, i + len));
        i += len;
      }
      assert.deepEqual(parse(chunks), whole, `chunks of up to ${maxLen}`);
    }
  });
});

describe('readCsv malformed records', () => {
  let dir: string;
  let file: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bigdl-csv-'));
    file = join(dir, 'bad.csv');
    writeFileSync(file, [
      'a,b,c', //              1 header
      '1,2,3', //              2 ok
      '4,5', //                3 too few fields
      '"x,y",6,7', //          4 ok
      '8,9"q,10', //           5 quote in an unquoted field
      '"z"w,1,2', //           6 text after a closing quote
      '11,abc,12', //          7 not a number
      '"multi', //             8 ok, two lines
      'line",13,14', //        9
      '', //                  10 blank: ignored
      '15,16,17,18', //       11 too many fields
      '19,20,21', //          12 ok
      '"open,22,23', //       13 never closed
      '24,25,26', //          14 swallowed by the open quote
    ].join('\n'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const opts = { types: { b: 'number' as const } };

  it("onError 'fail' stops at the first bad record with file:line and the reason", async () => {
    await assert.rejects(collect(readCsv(file, opts)), (e: Error) => {
      assert.ok(e instanceof CsvError);
      assert.equal(e.message, `${file}:3: record has 2 fields, expected 3 (as in the header)`);
      assert.equal(e.line, 3);
      assert.equal(e.file, file);
      return true;
    });
  });

  it("onError 'skip' counts the bad records, keeps the first reasons and yields the rest", async () => {
    const reader = readCsv(file, { ...opts, onError: 'skip', maxReasons: 4 });
    const rows = await collect(reader);
    assert.deepEqual(rows, [
      { a: '1', b: 2, c: '3' },
      { a: 'x,y', b: 6, c: '7' },
      { a: 'multi\nline', b: 13, c: '14' },
      { a: '19', b: 20, c: '21' },
    ]);
    assert.equal(reader.stats.skipped, 6);
    assert.equal(reader.stats.records, 4);
    assert.equal(reader.stats.lines, 14);
    assert.deepEqual(reader.stats.reasons, [
      `${file}:3: record has 2 fields, expected 3 (as in the header)`,
      `${file}:5: a quote inside unquoted field 2 (fields containing quotes must be quoted, with quotes doubled)`,
      `${file}:6: unexpected "w" after the closing quote of field 1`,
      `${file}:7: column 'b': "abc" is not a number`,
    ]);
    // the rest, with the default 5 reasons kept
    const all = readCsv(file, { ...opts, onError: 'skip' });
    await collect(all);
    assert.deepEqual(all.stats.reasons.slice(4), [`${file}:11: record has 4 fields, expected 3 (as in the header)`]);
    assert.equal(all.stats.skipped, 6);
    // the unterminated quote is reported where it opened, when it is the first problem
    const tail = join(dir, 'tail.csv');
    writeFileSync(tail, 'a,b\n1,2\n"open,3\n4,5\n');
    await assert.rejects(collect(readCsv(tail)), new RegExp(`tail\\.csv:3: unterminated quoted field 1: the quote opened on line 3 is never closed`));
  });

  it('handles header: false, another delimiter, a BOM and no final line end', async () => {
    const p = join(dir, 'semi.csv');
    writeFileSync(p, '\uFEFF1;"a;b"\r\n2;"c"');
    assert.deepEqual(await collect(readCsvRows(p, { header: false, delimiter: ';', types: { 0: 'int' } })), [[1, 'a;b'], [2, 'c']]);
    assert.deepEqual(await collect(readCsv(p, { header: false, delimiter: ';' })), [{ 0: '1', 1: 'a;b' }, { 0: '2', 1: 'c' }]);
    const ragged = join(dir, 'ragged.csv');
    writeFileSync(ragged, '1,2\n3\n4,5\n');
    const r = readCsvRows(ragged, { header: false, onError: 'skip' });
    assert.deepEqual(await collect(r), [['1', '2'], ['4', '5']]);
    assert.deepEqual(r.stats.reasons, [`${ragged}:2: record has 1 field, expected 2 (as in the first record)`]);
    await assert.rejects(collect(readCsv(join(dir, 'none.csv'))), /none\.csv: ENOENT/);
    assert.throws(() => readCsv(p, { delimiter: '"' }), /delimiter must be one character other than a quote/);
    assert.throws(() => readCsv(p, { onError: 'ignore' as 'skip' }), /onError must be 'fail' or 'skip'/);
  });
});
