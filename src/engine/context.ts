/**
 * EngineContext: what `Engine.init({ master })` returns, Spark's SparkContext role. It owns (or
 * borrows) a cluster, creates partitioned datasets from sources, and cleans up its blocks on close.
 *
 * ```ts
 * const ctx = await Engine.init({ master: 'local[4]' });
 * const n = await ctx.textFile('data/*.txt', { partitions: 8 }).filter(fns.nonEmpty).count();
 * await ctx.close();
 * ```
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import type { CsvOptions, CsvValue } from '../data/csv.js';
import { LocalCluster, parseLocalMaster, type LocalClusterOptions } from './cluster/local.js';
import type { RedisClusterOptions } from './cluster/redis-cluster.js';
import type { BlockStore, Cluster, Json } from './cluster/types.js';
import { CsvDataset, PartitionedDataset, sourceDeps, type DatasetHost } from './dataset.js';
import { checkSplittableEncoding, resolveFiles, shareParts, textSplits } from './sources.js';
import { parquetDataset, type ParquetFileOptions } from './sources-parquet.js';
import { sqlDataset, type SqlOptions } from './sources-sql.js';

export type { ParquetFileOptions } from './sources-parquet.js';
export type { SqlOptions, SqlParams } from './sources-sql.js';

export interface EngineInitOptions {
  /** `local` / `local[N]` / `local[*]` (default: worker processes on this machine), or
   *  `redis://host:6379` (workers started elsewhere with `bigdl worker --master ...`) */
  master?: string;
  /** an already started cluster of any backend; the context does not close it */
  cluster?: Cluster;
  /** attempts per task before a stage fails (default 4) */
  maxAttempts?: number;
  /** a task running longer than this is presumed lost and retried (ms; default none) */
  taskTimeoutMs?: number;
  /** options for local[N] workers (block directory, locality wait, cores per worker...) */
  local?: Omit<LocalClusterOptions, 'workers'>;
  /** options for redis:// masters (credentials, TLS, namespace, timeouts) */
  redis?: RedisClusterOptions;
}

export interface TextFileOptions {
  /** partitions in all (default: the cluster's cores, at least one per file); a file is cut at line boundaries */
  partitions?: number;
  /** utf8 (default), latin1 or ascii */
  encoding?: string;
}

export interface CsvFileOptions extends CsvOptions {
  /** partitions in all (default: the cluster's cores, at least one per file) */
  partitions?: number;
  /** rows as arrays of values (readCsvRows) instead of objects keyed by column (readCsv) */
  arrays?: boolean;
}

export class EngineContext implements DatasetHost {
  readonly keyPrefix: string;
  readonly cacheLocations = new Map<string, string>();
  private ids = 0;
  private closed: Promise<void> | null = null;

  private constructor(
    readonly cluster: Cluster,
    private readonly ownsCluster: boolean,
    readonly defaultParallelism: number,
    readonly maxAttempts: number | undefined,
    readonly taskTimeoutMs: number | undefined,
  ) {
    this.keyPrefix = `ctx-${process.pid}-${randomBytes(4).toString('hex')}`;
  }

  /** Starts (or attaches to) a cluster; see Engine.init. */
  static async create(options: EngineInitOptions = {}): Promise<EngineContext> {
    const { maxAttempts, taskTimeoutMs } = options;
    if (maxAttempts !== undefined && (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1)) throw new RangeError(`Engine.init: maxAttempts must be a positive integer, got ${maxAttempts}`);
    if (taskTimeoutMs !== undefined && !(taskTimeoutMs > 0)) throw new RangeError(`Engine.init: taskTimeoutMs must be positive, got ${taskTimeoutMs}`);
    let cluster = options.cluster;
    let owns = false;
    if (!cluster) {
      const master = options.master ?? 'local[*]';
      if (typeof master !== 'string') throw new TypeError('Engine.init: master must be a string such as local[4] or redis://host:6379');
      const n = parseLocalMaster(master);
      if (n !== undefined) {
        cluster = await LocalCluster.start({ ...options.local, workers: n });
      } else if (/^rediss?:\/\//.test(master)) {
        const { connectRedisCluster } = await import('./cluster/redis-cluster.js');
        cluster = await connectRedisCluster(master, options.redis);
      } else {
        throw new RangeError(`Engine.init: unknown master '${master}' (local, local[N], local[*], redis://host:port, or pass a started cluster as { cluster })`);
      }
      owns = true;
    }
    const cores = await cluster.totalCores();
    return new EngineContext(cluster, owns, Math.max(1, cores), maxAttempts, taskTimeoutMs);
  }

  get master(): string {
    return this.cluster.master;
  }

  get blocks(): BlockStore {
    return this.cluster.blocks;
  }

  /** @internal */
  newId(): number {
    return this.ids++;
  }

  /** @internal */
  checkOpen(what: string): void {
    if (this.closed) throw new Error(`${what}: the EngineContext is closed`);
  }

  // ---------------- sources ----------------

  /**
   * The items of an array in `numPartitions` contiguous slices (default: the cluster's cores). The
   * items are serialized now (a function or other non-cloneable value fails here) and stored as
   * blocks at the first action.
   */
  parallelize<T>(items: readonly T[], numPartitions: number = this.defaultParallelism): PartitionedDataset<T> {
    this.checkOpen('parallelize');
    if (!Array.isArray(items)) throw new TypeError('parallelize: expected an array');
    checkPartitions(numPartitions, 'parallelize');
    return new PartitionedDataset<T>(this, sourceDeps.array(items, numPartitions), numPartitions);
  }

  /** 0, 1, ..., n-1 in `partitions` contiguous ranges (computed on the workers, nothing stored). */
  range(n: number, partitions: number = this.defaultParallelism): PartitionedDataset<number> {
    this.checkOpen('range');
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`range: n must be a non-negative integer, got ${n}`);
    checkPartitions(partitions, 'range');
    return new PartitionedDataset<number>(this, sourceDeps.range(n, partitions), partitions);
  }

  /**
   * The lines of text files: a path, a directory, a glob (`data/*.txt`, `logs/**\/*.log`) or a list.
   * Files are cut into byte ranges on line boundaries (a range owns the lines that start in it), so
   * one big file gives many partitions; the files are re-read by every action (cache() to keep them).
   * Lines are split on '\n' with a trailing '\r' removed; the file list is fixed now.
   */
  textFile(paths: string | readonly string[], options: TextFileOptions = {}): PartitionedDataset<string> {
    this.checkOpen('textFile');
    const files = resolveFiles(paths, 'textFile');
    const partitions = options.partitions ?? Math.max(files.length, this.defaultParallelism);
    checkPartitions(partitions, 'textFile');
    const encoding = checkSplittableEncoding(options.encoding ?? 'utf8', 'textFile');
    const splits = textSplits(files, partitions);
    return new PartitionedDataset<string>(this, sourceDeps.text(splits, encoding), splits.length);
  }

  /**
   * Rows of CSV files (src/data/csv.ts: RFC 4180, header, columns, types, nullValues, and the
   * malformed-record policy onError 'fail' | 'skip'). CSV cannot be cut at byte offsets (quoted
   * fields hold newlines), so at the first action one task per file parses it and stores its rows
   * as `partitions` contiguous blocks (shared between files by size); later actions read the
   * blocks. A malformed record under onError 'fail' fails that action with file:line and the
   * reason; csvStats() gives the counts (skipped records and their reasons). `Row` is the row type
   * the caller expects (objects keyed by column, or arrays with `arrays: true`); it is not checked.
   */
  csvFile<Row = Record<string, CsvValue>>(paths: string | readonly string[], options: CsvFileOptions = {}): CsvDataset<Row> {
    this.checkOpen('csvFile');
    const { partitions: parts, arrays, ...csv } = options;
    const files = resolveFiles(paths, 'csvFile');
    const partitions = parts ?? Math.max(files.length, this.defaultParallelism);
    checkPartitions(partitions, 'csvFile');
    const onError = csv.onError ?? 'fail';
    if (onError !== 'fail' && onError !== 'skip') throw new RangeError(`csvFile: onError must be 'fail' or 'skip', got '${String(onError)}'`);
    if (csv.delimiter !== undefined && (typeof csv.delimiter !== 'string' || csv.delimiter.length !== 1)) {
      throw new RangeError(`csvFile: delimiter must be one character, got ${JSON.stringify(csv.delimiter)}`);
    }
    const sizes = files.map((f) => statSync(f).size);
    const share = shareParts(sizes, partitions);
    const total = share.reduce((a, b) => a + b, 0);
    return new CsvDataset<Row>(this, sourceDeps.csv(files, share, JSON.parse(JSON.stringify(csv)) as Json, arrays ?? false), total);
  }

  /**
   * Rows of Parquet files (path, directory, glob or list), as objects keyed by column. The footers
   * are read now: a file that is not parquet, or lacks one of `columns`, fails here naming it. The
   * row groups of all files are cut into `partitions` runs of near-equal row counts (at most one
   * partition per row group); workers read only their row groups (./sources-parquet.ts). INT64
   * columns arrive as bigint, timestamps and dates as Date.
   */
  parquetFile<Row = Record<string, unknown>>(paths: string | readonly string[], options: ParquetFileOptions = {}): PartitionedDataset<Row> {
    this.checkOpen('parquetFile');
    return parquetDataset<Row>(this, paths, options);
  }

  /**
   * The rows of a DuckDB SELECT query (it may read CSV/Parquet/JSON files itself), as objects keyed
   * by column. The query is checked here, on the driver (bad SQL rejects naming the query and
   * DuckDB's message); each partition's worker runs it and keeps one hash bucket of the rows,
   * sorted by all columns, so recomputing a lost partition gives the same rows (./sources-sql.ts).
   * The query must return the same rows every time it runs (no random(), no unordered LIMIT).
   * BIGINT columns arrive as bigint (cast in SQL for numbers), DECIMAL as number, dates as Date.
   */
  async sql<Row = Record<string, unknown>>(query: string, options: SqlOptions = {}): Promise<PartitionedDataset<Row>> {
    this.checkOpen('sql');
    return sqlDataset<Row>(this, query, options);
  }

  /** Deletes this context's blocks and stops the cluster if the context started it. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = (async () => {
        try {
          await this.cluster.blocks.deletePrefix(this.keyPrefix);
        } finally {
          if (this.ownsCluster) await this.cluster.close();
        }
      })();
    }
    return this.closed;
  }

  /** Spark's name for close(). */
  stop(): Promise<void> {
    return this.close();
  }
}

function checkPartitions(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${what}: the number of partitions must be a positive integer, got ${n}`);
}
