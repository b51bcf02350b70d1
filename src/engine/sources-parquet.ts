/**
 * Parquet files as a partitioned dataset of row objects (`ctx.parquetFile`), read with hyparquet
 * (pure JavaScript, no native code) and hyparquet-compressors (zstd, gzip, brotli, lz4).
 *
 * The driver reads only the footers: it checks every file is parquet it can read, then cuts the
 * row groups of all files, in order, into contiguous runs of near-equal row counts. A partition is
 * such a run (it may span the end of one file and the start of the next); its plan carries the
 * file paths, the row-group indices and their row count, so a worker reads just those row groups,
 * and a lost partition is re-read from the same row groups (lineage).
 *
 * The dataset is a source of its own (a 'parquet' dependency in ./dataset.ts): partition p's plan
 * carries only its own pieces, and the worker streams them with `readParquetPieces`.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { parquetMetadata, parquetMetadataAsync, parquetReadObjects, parquetSchema, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { PartitionedDataset, sourceDeps, type DatasetHost } from './dataset.js';
import { resolveFiles, type ParquetPiece } from './sources.js';

export type { ParquetPiece } from './sources.js';

export interface ParquetFileOptions {
  /** partitions in all (default: the cluster's cores); at most one per row group */
  partitions?: number;
  /** top-level columns to read (default: all); the others are not decoded */
  columns?: string[];
}

// the codecs hyparquet decodes itself or through hyparquet-compressors
const CODECS = new Set(['UNCOMPRESSED', 'SNAPPY', 'GZIP', 'BROTLI', 'LZ4', 'LZ4_RAW', 'ZSTD']);

/** Driver side of ctx.parquetFile. */
export function parquetDataset<Row>(host: DatasetHost, paths: string | readonly string[], options: ParquetFileOptions): PartitionedDataset<Row> {
  const files = resolveFiles(paths, 'parquetFile');
  const partitions = options.partitions ?? host.defaultParallelism;
  if (!Number.isSafeInteger(partitions) || partitions < 1) throw new RangeError(`parquetFile: the number of partitions must be a positive integer, got ${partitions}`);
  const columns = options.columns;
  if (columns !== undefined && (!Array.isArray(columns) || columns.length === 0 || columns.some((c) => typeof c !== 'string'))) {
    throw new TypeError('parquetFile: columns must be a non-empty array of column names');
  }
  const groups: { path: string; index: number; rows: number }[] = [];
  for (const path of files) {
    const md = readFooter(path);
    checkReadable(path, md, columns);
    md.row_groups.forEach((g, index) => groups.push({ path, index, rows: Number(g.num_rows) }));
  }
  const parts = cutRowGroups(groups, partitions);
  return new PartitionedDataset<Row>(host, sourceDeps.parquet(files, parts, columns ?? null), parts.length);
}

/** The footer of a parquet file, read synchronously; errors name the file and what is wrong. */
export function readFooter(path: string): FileMetaData {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const bad = (why: string) => new Error(`parquetFile: ${path} is not a readable parquet file: ${why}`);
    if (size < 12) throw bad(`it is ${size} bytes long, shorter than the smallest parquet file (12 bytes)`);
    const head = Buffer.alloc(4), tail = Buffer.alloc(8);
    readSync(fd, head, 0, 4, 0);
    readSync(fd, tail, 0, 8, size - 8);
    const magic = tail.toString('latin1', 4);
    if (magic === 'PARE') throw bad('it is encrypted (PARE footer), which is not supported');
    if (head.toString('latin1') !== 'PAR1' || magic !== 'PAR1') throw bad("it does not start and end with the magic bytes 'PAR1'");
    const len = tail.readUInt32LE(0);
    if (len > size - 12) throw bad(`its footer claims ${len} bytes of metadata but the file has ${size - 12}`);
    const footer = Buffer.alloc(len + 8);
    readSync(fd, footer, 0, len + 8, size - len - 8);
    try {
      return parquetMetadata(footer);
    } catch (e) {
      throw bad(`its metadata cannot be decoded (${(e as Error).message})`);
    }
  } finally {
    closeSync(fd);
  }
}

function checkReadable(path: string, md: FileMetaData, columns: string[] | undefined): void {
  const names = parquetSchema(md).children.map((c) => c.element.name);
  const missing = (columns ?? []).filter((c) => !names.includes(c));
  if (missing.length) throw new Error(`parquetFile: ${path} has no column ${missing.map((c) => `'${c}'`).join(', ')} (its columns: ${names.join(', ')})`);
  for (const g of md.row_groups) {
    for (const c of g.columns) {
      const codec = c.meta_data?.codec;
      if (codec && !CODECS.has(codec)) throw new Error(`parquetFile: ${path}: column '${c.meta_data!.path_in_schema.join('.')}' is compressed with ${codec}, which the reader does not support (supported: ${[...CODECS].join(', ')})`);
    }
  }
}

/**
 * The row groups (in file order) cut into min(partitions, row groups) contiguous runs whose row
 * counts are as equal as the row groups allow: boundary i goes to the row-group edge nearest to
 * i/k of the rows. With no row groups at all there is one empty partition.
 */
export function cutRowGroups(groups: readonly { path: string; index: number; rows: number }[], partitions: number): ParquetPiece[][] {
  const g = groups.length;
  if (g === 0) return [[]];
  const k = Math.min(partitions, g);
  const total = groups.reduce((s, x) => s + x.rows, 0);
  const weight = (i: number) => (total > 0 ? groups[i].rows : 1); // all-empty groups: cut by count
  const cum = [0];
  for (let i = 0; i < g; i++) cum.push(cum[i] + weight(i));
  const bounds = [0];
  for (let i = 1; i < k; i++) {
    const target = (i * cum[g]) / k;
    // each run keeps at least one row group, so k runs fit
    let best = bounds[i - 1] + 1;
    for (let j = best + 1; j <= g - (k - i); j++) if (Math.abs(cum[j] - target) < Math.abs(cum[best] - target)) best = j;
    bounds.push(best);
  }
  bounds.push(g);
  const parts: ParquetPiece[][] = [];
  for (let p = 0; p < k; p++) {
    const pieces: ParquetPiece[] = [];
    for (let i = bounds[p]; i < bounds[p + 1]; i++) {
      const { path, index, rows } = groups[i];
      const last = pieces[pieces.length - 1];
      if (last && last.path === path && last.end === index) {
        last.end++;
        last.rows += rows;
      } else pieces.push({ path, first: index, end: index + 1, rows });
    }
    parts.push(pieces);
  }
  return parts;
}

// ---- worker side ----

/** The rows of a partition's pieces, one row group at a time (memory stays at one row group). */
export async function* readParquetPieces(pieces: readonly ParquetPiece[], columns: string[] | null): AsyncGenerator<Record<string, unknown>> {
  const { compressors } = await import('hyparquet-compressors');
  for (const piece of pieces) {
    const fh = await open(piece.path, 'r').catch((e: Error) => {
      throw new Error(`parquetFile ${piece.path}: ${e.message}`);
    });
    try {
      const file = fileBuffer(fh, (await fh.stat()).size);
      const md = await parquetMetadataAsync(file);
      const groups = md.row_groups.slice(piece.first, piece.end);
      const rows = groups.reduce((s, g) => s + Number(g.num_rows), 0);
      // the plan was cut from the footer the driver read: a rewritten file would give other rows
      if (groups.length !== piece.end - piece.first || rows !== piece.rows) {
        throw new Error(`parquetFile ${piece.path}: the file changed since the dataset was defined (row groups ${piece.first}..${piece.end - 1} should hold ${piece.rows} rows)`);
      }
      let rowStart = md.row_groups.slice(0, piece.first).reduce((s, g) => s + Number(g.num_rows), 0);
      for (let i = piece.first; i < piece.end; i++) {
        const rowEnd = rowStart + Number(md.row_groups[i].num_rows);
        let batch;
        try {
          batch = await parquetReadObjects({ file, metadata: md, rowStart, rowEnd, compressors, ...(columns ? { columns } : {}) });
        } catch (e) {
          throw new Error(`parquetFile ${piece.path}: row group ${i}: ${(e as Error).message}`);
        }
        yield* batch;
        rowStart = rowEnd;
      }
    } finally {
      await fh.close();
    }
  }
}

/** hyparquet's AsyncBuffer over an open file: positioned reads, no stream per slice. */
function fileBuffer(fh: FileHandle, size: number): AsyncBuffer {
  return {
    byteLength: size,
    async slice(start: number, end = size) {
      const buf = new Uint8Array(end - start);
      let off = 0;
      while (off < buf.length) {
        const { bytesRead } = await fh.read(buf, off, buf.length - off, start + off);
        if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${start + off}`);
        off += bytesRead;
      }
      return buf.buffer;
    },
  };
}
