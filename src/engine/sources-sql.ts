/**
 * A DuckDB SELECT query as a partitioned dataset of row objects (`ctx.sql`), through DuckDB's
 * official Node API (@duckdb/node-api, prebuilt binaries from npm). DuckDB reads CSV, Parquet and
 * JSON files itself (`read_csv('ratings.csv')`, `'data/*.parquet'`), so analytics (joins, GROUP BY,
 * windows) and the training pipeline that follows share one dataset.
 *
 * Partitioning: partition p of k runs
 *   SELECT * FROM (query) AS q WHERE hash(q) % k = p ORDER BY ALL
 * on its worker: the rows whose hash (of all their columns) falls in bucket p, sorted by all
 * columns. The buckets cover every row exactly once, need no count or coordination beforehand,
 * and give the same rows in the same order when a lost partition is recomputed (lineage), as long
 * as the query itself returns the same rows. Workers run DuckDB on one thread: the parallelism is
 * the partitions, and single-threaded aggregation sums floating-point values in a fixed order, so
 * the hashes of computed columns are the same on every run. The price: every partition runs the
 * whole query and keeps 1/k of it; for large raw tables, write Parquet and use ctx.parquetFile.
 *
 * The dataset is a source of its own (an 'sql' dependency in ./dataset.ts): partition p's plan
 * carries the query, its parameters, the bucket count and p, and the worker runs `readSqlPartition`.
 */
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { PartitionedDataset, sourceDeps, type DatasetHost } from './dataset.js';
import type { SqlParams, SqlSource } from './sources.js';

export type { SqlParams } from './sources.js';

export interface SqlOptions {
  /** partitions (hash buckets of the rows; default: the cluster's cores) */
  partitions?: number;
  /** values of the query's parameters; bound by DuckDB, never pasted into the SQL text */
  params?: SqlParams;
}

/** Driver side of ctx.sql: checks the query with DuckDB here, then builds the dataset. */
export async function sqlDataset<Row>(host: DatasetHost, query: string, options: SqlOptions): Promise<PartitionedDataset<Row>> {
  if (typeof query !== 'string' || query.trim() === '') throw new TypeError('sql: expected a query string');
  // a trailing ';' would end the subquery the partitions wrap around the query
  const q = query.trim().replace(/;\s*$/, '');
  const partitions = options.partitions ?? host.defaultParallelism;
  if (!Number.isSafeInteger(partitions) || partitions < 1) throw new RangeError(`sql: the number of partitions must be a positive integer, got ${partitions}`);
  const params = checkParams(options.params);
  const args: SqlSource = { query: q, params, partitions, cwd: process.cwd() };
  await checkQuery(args);
  return new PartitionedDataset<Row>(host, sourceDeps.sql(args), partitions);
}

function checkParams(params: unknown): SqlParams | null {
  if (params === undefined || params === null) return null;
  const scalar = (v: unknown) => v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
  const values = Array.isArray(params) ? params : typeof params === 'object' && Object.getPrototypeOf(params) === Object.prototype ? Object.values(params) : null;
  if (values === null || !values.every(scalar)) {
    throw new TypeError('sql: params must be an array (for ? or $1) or a plain object (for $name) of strings, finite numbers, booleans or null');
  }
  return params as SqlParams;
}

/**
 * Runs the checks a worker would otherwise hit first, on the driver, with the query's own line
 * numbers in DuckDB's messages: one statement, a SELECT, parameters that bind, and a result that
 * can be hashed and sorted (the partition query with LIMIT 0, which plans but reads no rows).
 */
async function checkQuery(args: SqlSource): Promise<void> {
  const fail = (why: string) => new Error(`sql: ${why}\n  query: ${preview(args.query)}`);
  const conn = await connect(args.cwd);
  try {
    let statements;
    try {
      statements = await conn.extractStatements(args.query);
    } catch (e) {
      throw fail(`DuckDB cannot parse the query: ${(e as Error).message.replace(/^Failed to extract statements: /, '')}`);
    }
    if (statements.count !== 1) throw fail(`expected one statement, got ${statements.count}`);
    let prepared;
    try {
      prepared = await statements.prepare(0);
    } catch (e) {
      throw fail(`DuckDB rejected the query: ${(e as Error).message}`);
    }
    const type = prepared.statementType;
    const names = Array.from({ length: prepared.parameterCount }, (_, i) => prepared.parameterName(i + 1));
    prepared.destroySync();
    const { StatementType } = await import('@duckdb/node-api');
    if (type !== StatementType.SELECT) {
      throw fail(`only queries that return rows can be a dataset (every partition runs the query), got a ${StatementType[type]} statement`);
    }
    const paramsWrong = checkParamNames(names, args.params);
    if (paramsWrong) throw fail(paramsWrong);
    try {
      await conn.run(`${partitionQuery(args.query, 1, 0)} LIMIT 0`, (args.params ?? undefined) as never);
    } catch (e) {
      throw fail(`DuckDB cannot run the query as a partitioned source (each partition runs SELECT * FROM (query) ... ORDER BY ALL): ${(e as Error).message}`);
    }
  } finally {
    conn.closeSync();
  }
}

/** DuckDB's own messages for these say little ("Failed to retrieve bind parameter index"). */
function checkParamNames(names: string[], params: SqlParams | null): string | null {
  const given = params === null ? [] : Array.isArray(params) ? params.map((_, i) => String(i + 1)) : Object.keys(params);
  const named = names.some((n) => !/^\d+$/.test(n));
  if (params !== null && names.length > 0 && Array.isArray(params) === named) {
    return named ? `the query has named parameters ($${names.join(', $')}): give params as an object` : `the query has positional parameters (? or $1): give params as an array`;
  }
  const missing = names.filter((n) => !given.includes(n));
  const extra = given.filter((n) => !names.includes(n));
  if (missing.length === 0 && extra.length === 0) return null;
  const show = (ns: string[]) => ns.map((n) => (named ? `$${n}` : `#${n}`)).join(', ');
  return `the query has ${names.length} parameter(s)${names.length ? ` (${show(names)})` : ''}; params ${missing.length ? `lacks ${show(missing)}` : ''}${missing.length && extra.length ? ' and ' : ''}${extra.length ? `has no use for ${show(extra)}` : ''}`;
}

/** The rows of partition p: its hash bucket, sorted by all columns (see the top of the file). */
export function partitionQuery(query: string, partitions: number, p: number): string {
  // newlines keep a '--' comment at the end of the query from swallowing the wrapper
  return `SELECT * FROM (\n${query}\n) AS bigdl_q WHERE hash(bigdl_q) % ${partitions} = ${p} ORDER BY ALL`;
}

const preview = (q: string): string => (q.length > 300 ? `${q.slice(0, 300)}...` : q).replace(/\s+/g, ' ');

// ---- both sides: one in-process DuckDB ----

let instance: Promise<DuckDBInstance> | null = null;

/** A connection to this process's in-memory DuckDB (created on first use, one thread). */
async function connect(cwd: string): Promise<DuckDBConnection> {
  if (!instance) {
    instance = import('@duckdb/node-api').then((m) => m.DuckDBInstance.create(':memory:', { threads: '1' }));
    instance.catch(() => {
      instance = null;
    });
  }
  const conn = await (await instance).connect();
  await conn.run(`SET file_search_path = '${cwd.replace(/'/g, "''")}'`);
  return conn;
}

// ---- worker side ----

/** Streams the rows of partition p as objects keyed by column. */
export async function* readSqlPartition(p: number, args: SqlSource): AsyncGenerator<Record<string, unknown>> {
  const conn = await connect(args.cwd);
  try {
    let rows;
    try {
      const result = await conn.stream(partitionQuery(args.query, args.partitions, p), (args.params ?? undefined) as never);
      rows = result.yieldRowObjectJs();
    } catch (e) {
      throw partitionError(e, p, args);
    }
    for (;;) {
      let next;
      try {
        next = await rows.next(); // errors can also come while streaming (a failed cast in row 10,000)
      } catch (e) {
        throw partitionError(e, p, args);
      }
      if (next.done) return;
      yield* next.value;
    }
  } finally {
    conn.closeSync();
  }
}

function partitionError(e: unknown, p: number, args: SqlSource): Error {
  return new Error(`sql partition ${p}: DuckDB: ${(e as Error).message}\n  query: ${preview(args.query)}`);
}
