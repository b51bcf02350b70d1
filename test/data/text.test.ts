// readLines: the real GloVe excerpt (latin-1) under ../shared/data, and line-end edge cases.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/package-root.js';
import { readLines } from '../../src/data/text.js';
import { DataSet } from '../../src/data/dataset.js';

const GLOVE = join(packageRoot(), '..', 'shared', 'data', 'text', 'glove', 'glove.6B.50d.top.txt');

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('readLines', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bigdl-text-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('streams the GloVe excerpt: 2446 words with 50 floats each', async () => {
    const lines = await collect(readLines(GLOVE, { encoding: 'latin1' }));
    assert.equal(lines.length, 2446);
    assert.ok(lines.every((l) => l.split(' ').length === 51));
    assert.equal(lines[0].split(' ')[0], 'the');
    assert.equal(Number(lines[0].split(' ')[1]), 0.418);
    assert.equal(lines[2445].split(' ')[0], 'handed');
    // as a data set of word vectors, twice
    const ds = DataSet.fromIterable(() => readLines(GLOVE, { encoding: 'latin1' })).map((l) => l.split(' ').slice(1).map(Number));
    assert.equal(await ds.count(0), 2446);
    assert.deepEqual((await ds.toArray(1))[0].length, 50);
  });

  it('handles CRLF, a BOM, blank lines and a missing final line end', async () => {
    const p = join(dir, 'a.txt');
    writeFileSync(p, '\uFEFFone\r\ntwo\n\nthree\r\n\r\nfour');
    assert.deepEqual(await collect(readLines(p)), ['one', 'two', '', 'three', '', 'four']);
    assert.deepEqual(await collect(readLines(p, { skipEmpty: true })), ['one', 'two', 'three', 'four']);
    const q = join(dir, 'b.txt');
    writeFileSync(q, 'x\n');
    assert.deepEqual(await collect(readLines(q)), ['x']);
    const long = join(dir, 'long.txt');
    const big = 'y'.repeat(300_000);
    writeFileSync(long, `${big}\r\nz`);
    assert.deepEqual((await collect(readLines(long))).map((l) => l.length), [300_000, 1]);
    await assert.rejects(collect(readLines(join(dir, 'missing.txt'))), /readLines .*missing\.txt: ENOENT/);
  });
});
