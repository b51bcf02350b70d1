/**
 * Driver-side helpers for file sources: resolving paths and globs to files, and cutting files into
 * partitions (byte ranges for text, file shares for CSV); the descriptors of parquet and SQL
 * partitions.
 */
import { readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';

/** A byte range of a file: the lines starting inside [start, end). */
export interface TextSplit {
  path: string;
  start: number;
  end: number;
}

/** Row groups [first, end) of one parquet file, holding `rows` rows (./sources-parquet.ts). */
export interface ParquetPiece {
  path: string;
  first: number;
  end: number;
  rows: number;
}

/** Query parameters: positional (`?`, `$1`) as an array, or named (`$name`) as an object. */
export type SqlParams = (string | number | boolean | null)[] | Record<string, string | number | boolean | null>;

/** A DuckDB query cut into `partitions` hash buckets (./sources-sql.ts). */
export interface SqlSource {
  query: string;
  params: SqlParams | null;
  partitions: number;
  /** the driver's working directory: relative file paths in the query resolve against it on workers */
  cwd: string;
}

const GLOB = /[*?[{]/;

/**
 * The files named by a path, a directory (its files, sorted), a glob (`*`, `?`, `[abc]`, `{a,b}`,
 * `**`), or a list of those; sorted per pattern, without repeats. As in Hadoop, directories and
 * globs leave out names starting with '.' or '_' (`_SUCCESS`) unless the pattern spells them.
 * Throws naming the pattern when nothing matches.
 */
export function resolveFiles(spec: string | readonly string[], what: string): string[] {
  const patterns = typeof spec === 'string' ? [spec] : spec;
  if (!Array.isArray(patterns) || patterns.length === 0 || patterns.some((p) => typeof p !== 'string' || p === '')) {
    throw new TypeError(`${what}: expected a path, a glob, or an array of them`);
  }
  const out: string[] = [];
  const seen = new Set<string>();
  for (const pattern of patterns) {
    const abs = resolve(pattern);
    let files: string[];
    if (!GLOB.test(pattern)) {
      let st;
      try {
        st = statSync(abs);
      } catch {
        throw new Error(`${what}: ${abs} does not exist`);
      }
      files = st.isDirectory() ? listFiles(abs) : [abs];
      if (files.length === 0) throw new Error(`${what}: directory ${abs} holds no files`);
    } else {
      files = glob(abs);
      if (files.length === 0) throw new Error(`${what}: no file matches ${pattern}`);
    }
    for (const f of files) {
      if (!seen.has(f)) {
        seen.add(f);
        out.push(f);
      }
    }
  }
  return out;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.') && !e.name.startsWith('_') && isFile(join(dir, e.name)))
    .map((e) => join(dir, e.name))
    .sort();
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function glob(absPattern: string): string[] {
  const segs = absPattern.split(sep);
  let i = 0;
  while (i < segs.length && !GLOB.test(segs[i])) i++;
  const base = segs.slice(0, i).join(sep) || sep;
  const out: string[] = [];
  walk(isAbsolute(base) ? base : resolve(base), segs.slice(i), out);
  return out;
}

function walk(path: string, segs: string[], out: string[]): void {
  if (segs.length === 0) {
    if (isFile(path)) out.push(path);
    return;
  }
  const [seg, ...rest] = segs;
  if (seg === '**') {
    walk(path, rest, out);
    if (!isDir(path)) return;
    for (const e of readdirSync(path).sort()) {
      if (e.startsWith('.')) continue;
      const p = join(path, e);
      if (isDir(p)) walk(p, segs, out);
    }
    return;
  }
  if (!GLOB.test(seg)) {
    walk(join(path, seg), rest, out);
    return;
  }
  if (!isDir(path)) return;
  const re = globSegment(seg);
  for (const e of readdirSync(path).sort()) {
    if ((e.startsWith('.') || e.startsWith('_')) && e[0] !== seg[0]) continue; // hidden and _SUCCESS-like, as Hadoop
    if (re.test(e)) walk(join(path, e), rest, out);
  }
}

/** One path segment of a glob as a RegExp. */
export function globSegment(seg: string): RegExp {
  let re = '';
  let inBraces = false;
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const close = seg.indexOf(']', i + 2);
      if (close < 0) {
        re += '\\[';
        continue;
      }
      let body = seg.slice(i + 1, close);
      if (body.startsWith('!')) body = '^' + body.slice(1);
      re += '[' + body.replace(/\\/g, '\\\\') + ']';
      i = close;
    } else if (c === '{') {
      inBraces = true;
      re += '(?:';
    } else if (c === '}' && inBraces) {
      inBraces = false;
      re += ')';
    } else if (c === ',' && inBraces) re += '|';
    else re += c.replace(/[.+^$()|\\\]{}]/g, '\\$&');
  }
  return new RegExp('^' + re + '$');
}

/**
 * How many parts each file gets so the total is `partitions` (at least one per file, so more when
 * there are more files), in proportion to the files' sizes.
 */
export function shareParts(sizes: readonly number[], partitions: number): number[] {
  const n = sizes.length;
  if (partitions <= n) return sizes.map(() => 1);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total === 0) {
    const parts = sizes.map(() => Math.floor(partitions / n));
    for (let i = 0; i < partitions % n; i++) parts[i]++;
    return parts;
  }
  // in proportion to size, at least one each, rounded by largest remainders
  const exact = sizes.map((s) => (s / total) * partitions);
  const parts = exact.map((x) => Math.max(1, Math.floor(x)));
  let sum = parts.reduce((a, b) => a + b, 0);
  while (sum < partitions) {
    let best = 0;
    for (let i = 1; i < n; i++) if (exact[i] - parts[i] > exact[best] - parts[best]) best = i;
    parts[best]++;
    sum++;
  }
  while (sum > partitions) {
    let worst = -1;
    for (let i = 0; i < n; i++) if (parts[i] > 1 && (worst < 0 || exact[i] - parts[i] < exact[worst] - parts[worst])) worst = i;
    parts[worst]--;
    sum--;
  }
  return parts;
}

/** Byte-range splits of files: `partitions` in all when there are fewer files, else one per file. */
export function textSplits(files: readonly string[], partitions: number): TextSplit[] {
  const sizes = files.map((f) => statSync(f).size);
  const parts = shareParts(sizes, partitions);
  const splits: TextSplit[] = [];
  files.forEach((path, i) => {
    const size = sizes[i], k = parts[i];
    for (let j = 0; j < k; j++) splits.push({ path, start: Math.floor((j * size) / k), end: Math.floor(((j + 1) * size) / k) });
  });
  return splits;
}

/** Encodings in which '\n' is one byte, so files can be cut at byte offsets. */
export function checkSplittableEncoding(encoding: string, what: string): BufferEncoding {
  const e = encoding.toLowerCase();
  if (e === 'utf8' || e === 'utf-8' || e === 'latin1' || e === 'binary' || e === 'ascii') return e as BufferEncoding;
  throw new RangeError(`${what}: encoding '${encoding}' is not supported (utf8, latin1 or ascii: files are split at byte offsets on '\\n')`);
}
