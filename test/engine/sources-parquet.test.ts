// ctx.parquetFile on local[2]: Parquet files written here by DuckDB from the real MovieLens ratings
// and Beijing PM2.5 series, read back row for row against the CSVs; row-group partitioning, a lost
// cached partition recomputed, and the errors for files that are not (or no longer) readable.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { packageRoot } from '../../src/util/package-root.js';
import { Engine } from '../../src/engine/engine.js';
import type { EngineContext } from '../../src/engine/context.js';
import type { LocalCluster } from '../../src/engine/cluster/local.js';
import { cutRowGroups, readFooter } from '../../src/engine/sources-parquet.js';
import { fns } from './fns.js';
import { sfns } from './sources-fns.js';
import { checkRecomputedAfterKill } from './lost-partition.js';
import type { PartitionedDataset } from '../../src/engine/dataset.js';

const DATA = join(packageRoot(), '..', 'shared', 'data');
const RATINGS = join(DATA, 'movielens', 'ml-latest-small', 'ratings.csv');
const PM25 = join(DATA, 'timeseries', 'beijing_pm25_pollution.csv');
const YEARS = [2010, 2011, 2012, 2013, 2014];

/** The CSV's data lines split on commas (neither file quotes fields); ratings.csv has CRLF ends. */
const csvLines = (path: string): string[][] =>
  readFileSync(path, 'utf8').split('\n').slice(1).map((l) => l.replace(/\r$/, '')).filter((l) => l !== '').map((l) => l.split(','));

const groupsOf = (path: string) => readFooter(path).row_groups.map((g, index) => ({ path, index, rows: Number(g.num_rows) }));

describe('ctx.parquetFile on local[2]', () => {
  let ctx: EngineContext;
  let dir: string;
  let duck: DuckDBInstance;
  let sql: DuckDBConnection;
  let ratingsFile: string;
  let weatherFiles: string[];
  const ratings = csvLines(RATINGS);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bigdl-parquet-'));
    duck = await DuckDBInstance.create(':memory:', { threads: '1' });
    sql = await duck.connect();
    // zstd: the codec pandas/polars users meet, decoded through hyparquet-compressors
    ratingsFile = join(dir, 'ratings.parquet');
    await sql.run(`COPY (SELECT * FROM read_csv('${RATINGS}')) TO '${ratingsFile}' (FORMAT PARQUET, ROW_GROUP_SIZE 10000, COMPRESSION zstd)`);
    mkdirSync(join(dir, 'weather'));
    weatherFiles = YEARS.map((y) => join(dir, 'weather', `pm25-${y}.parquet`));
    for (const [i, y] of YEARS.entries()) {
      await sql.run(`COPY (SELECT * FROM read_csv('${PM25}', nullstr = 'NA') WHERE year = ${y} ORDER BY No) TO '${weatherFiles[i]}' (FORMAT PARQUET, ROW_GROUP_SIZE 2048)`);
    }
    ctx = await Engine.init({ master: 'local[2]' });
  });

  after(async () => {
    await ctx?.close();
    sql?.closeSync();
    duck?.closeSync();
    rmSync(dir, { recursive: true, force: true });
  });

  it('cuts row groups into contiguous runs that cover each group once, balanced by rows', () => {
    const groups = weatherFiles.flatMap(groupsOf);
    assert.ok(groups.length > 10, `${groups.length} row groups`);
    for (const k of [1, 3, 7, groups.length, groups.length + 5]) {
      const parts = cutRowGroups(groups, k);
      assert.equal(parts.length, Math.min(k, groups.length));
      const covered = parts.flat().flatMap((p) => Array.from({ length: p.end - p.first }, (_, i) => `${p.path}#${p.first + i}`));
      assert.deepEqual(covered, groups.map((g) => `${g.path}#${g.index}`), `k=${k}: every group once, in order`);
      const sizes = parts.map((ps) => ps.reduce((s, p) => s + p.rows, 0));
      const biggest = Math.max(...groups.map((g) => g.rows));
      // nearest row-group edge to each i/k of the rows: no run is off by more than a group either side
      for (const s of sizes) assert.ok(Math.abs(s - 43824 / parts.length) <= biggest, `k=${k}: sizes ${sizes}`);
    }
    assert.deepEqual(cutRowGroups([], 4), [[]]);
    assert.deepEqual(cutRowGroups([{ path: 'a', index: 0, rows: 0 }, { path: 'a', index: 1, rows: 0 }], 2).map((p) => p[0].first), [0, 1]);
  });

  it('reads every row of a zstd file once, in file order, over row-group partitions', async () => {
    const ds = ctx.parquetFile<{ userId: bigint; movieId: bigint; rating: number; timestamp: bigint }>(ratingsFile, { partitions: 4 });
    assert.equal(ds.numPartitions, 4);
    const expected = cutRowGroups(groupsOf(ratingsFile), 4).map((ps) => ps.reduce((s, p) => s + p.rows, 0));
    assert.deepEqual(await ds.partitionSizes(), expected);
    const rows = await ds.collect();
    assert.equal(rows.length, ratings.length);
    assert.equal(rows.length, 100836);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i], [u, m, rating, t] = ratings[i];
      if (r.userId !== BigInt(u) || r.movieId !== BigInt(m) || r.rating !== Number(rating) || r.timestamp !== BigInt(t)) {
        assert.fail(`row ${i}: ${JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? Number(v) : v))} vs CSV ${ratings[i]}`);
      }
    }
  });

  it('reads only the columns asked for; transforms run on the rows', async () => {
    const ds = ctx.parquetFile<{ movieId: bigint; rating: number }>(ratingsFile, { partitions: 3, columns: ['movieId', 'rating'] });
    const first = await ds.take(2);
    assert.deepEqual(first, [{ movieId: 1n, rating: 4 }, { movieId: 3n, rating: 4 }]);
    const sum = await ds.map(sfns.ratingOf).reduce(fns.add);
    const csvSum = ratings.reduce((s, r) => s + Number(r[2]), 0);
    assert.ok(Math.abs(sum - csvSum) < 1e-6, `${sum} vs ${csvSum}`);
  });

  it('reads a glob of files with partitions spanning files, and at most one partition per row group', async () => {
    const weather = csvLines(PM25);
    const ds = ctx.parquetFile<{ No: bigint; year: bigint; 'pm2.5': bigint | null }>(join(dir, 'weather', '*.parquet'), { partitions: 3 });
    assert.equal(ds.numPartitions, 3);
    const rows = await ds.collect();
    assert.deepEqual(rows.map((r) => Number(r.No)), weather.map((w) => Number(w[0])), 'every hour once, in order');
    // NA in the CSV is null in parquet; the first day of 2010 has no PM2.5 for its first 24 hours
    assert.equal(rows[0]['pm2.5'], null);
    assert.equal(rows[24]['pm2.5'], BigInt(weather[24][5]));
    const perYear = YEARS.map((y) => weather.filter((w) => Number(w[1]) === y).length);
    assert.deepEqual(YEARS.map((y) => rows.filter((r) => r.year === BigInt(y)).length), perYear);

    const groups = weatherFiles.flatMap(groupsOf).length;
    const fine = ctx.parquetFile(weatherFiles, { partitions: 1000 });
    assert.equal(fine.numPartitions, groups);
    assert.match(fine.toDebugString(), new RegExp(`^\\(${groups}\\) parquetFile\\(.*2010\\.parquet, .*, ${groups} partitions\\) #\\d+$`));
    const sizes = await fine.partitionSizes();
    assert.ok(sizes.every((n) => n > 0));
    assert.equal(sizes.reduce((a, b) => a + b, 0), weather.length);
    // each partition's plan carries only its own row groups
    const plans = (await fine.partitionTasks()).map((t) => t.plan as { op: string; pieces: { rows: number }[] });
    assert.ok(plans.every((pl) => pl.op === 'parquet' && pl.pieces.length === 1), 'one row group per partition');
    assert.deepEqual(plans.map((pl) => pl.pieces[0].rows), sizes);
  });

  it('recomputes a lost cached partition from its row groups', async () => {
    const cluster = ctx.cluster as LocalCluster;
    const ds = ctx.parquetFile(weatherFiles, { partitions: 4, columns: ['No', 'TEMP'] }).map(sfns.withPid).cache();
    await checkRecomputedAfterKill(cluster, ds as PartitionedDataset<{ No: bigint; pid: number }>);
  });

  it('names the file and what is wrong with it', async () => {
    const fake = join(dir, 'fake.parquet');
    copyFileSync(RATINGS, fake);
    assert.throws(() => ctx.parquetFile(fake), (e: Error) => e.message.includes(fake) && /does not start and end with the magic bytes 'PAR1'/.test(e.message));
    const bytes = readFileSync(ratingsFile);
    const half = join(dir, 'half.parquet');
    writeFileSync(half, bytes.subarray(0, bytes.length >> 1));
    assert.throws(() => ctx.parquetFile([ratingsFile, half]), (e: Error) => e.message.startsWith(`parquetFile: ${half} is not a readable parquet file`));
    const tiny = join(dir, 'tiny.parquet');
    writeFileSync(tiny, 'PAR1PAR1');
    assert.throws(() => ctx.parquetFile(tiny), /tiny\.parquet is not a readable parquet file: it is 8 bytes long/);
    const longFooter = join(dir, 'long-footer.parquet');
    const lf = Buffer.from(bytes);
    lf.writeUInt32LE(0x7fffffff, lf.length - 8);
    writeFileSync(longFooter, lf);
    assert.throws(() => ctx.parquetFile(longFooter), /long-footer\.parquet is not a readable parquet file: its footer claims 2147483647 bytes of metadata/);
    assert.throws(() => ctx.parquetFile(ratingsFile, { columns: ['rating', 'nope'] }), /ratings\.parquet has no column 'nope' \(its columns: userId, movieId, rating, timestamp\)/);
    assert.throws(() => ctx.parquetFile(join(dir, 'missing.parquet')), /missing\.parquet does not exist/);
  });

  it('fails an action on a damaged column chunk, naming the file and the row group', async () => {
    const bad = join(dir, 'damaged.parquet');
    const bytes = Buffer.from(readFileSync(weatherFiles[0]));
    const chunk = readFooter(weatherFiles[0]).row_groups[1].columns[0].meta_data!;
    const at = Number(chunk.data_page_offset) + 40; // inside the first data page, past its header
    bytes.fill(0xab, at, at + 64);
    writeFileSync(bad, bytes);
    const ds = ctx.parquetFile(bad, { partitions: 2 }); // the footer is intact: definition succeeds
    await assert.rejects(ds.count(), (e: Error) => e.message.includes(`parquetFile ${bad}: row group 1: `));
  });

  it('fails an action on a file rewritten since the dataset was defined, naming it', async () => {
    const moving = join(dir, 'moving.parquet');
    copyFileSync(ratingsFile, moving);
    const ds = ctx.parquetFile(moving, { partitions: 2 });
    await sql.run(`COPY (SELECT * FROM read_csv('${RATINGS}') LIMIT 5000) TO '${moving}' (FORMAT PARQUET)`);
    await assert.rejects(ds.count(), (e: Error) => e.message.includes(`parquetFile ${moving}: the file changed since the dataset was defined`));
  });
});
