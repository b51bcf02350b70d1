/**
 * Streaming CSV (RFC 4180): quoted fields with embedded delimiters, newlines and doubled quotes,
 * LF or CRLF line ends, an optional header row, column selection and typed columns. The file is
 * read as a stream, so its size does not matter; a reader can be iterated many times (each pass
 * reopens the file), which makes `DataSet.fromIterable(() => reader)` a re-iterable data set.
 *
 * A malformed record (wrong field count, a stray quote, text after a closing quote, an unterminated
 * quote, a value that does not parse as its column's type) either stops the pass with an error
 * naming file:line and the reason (onError 'fail', the default) or is skipped and counted in
 * `reader.stats` (onError 'skip').
 */
import { createReadStream } from 'node:fs';

export type CsvType = 'string' | 'number' | 'int';
export type CsvValue = string | number | null;

export interface CsvOptions {
  /** the first record names the columns (default true) */
  header?: boolean;
  /** keep only these columns, in this order: header names or 0-based indices */
  columns?: readonly (string | number)[];
  /** column types by header name or index (default 'string'); 'int' must be an integer */
  types?: Readonly<Record<string | number, CsvType>>;
  /** field values that become null in typed (number/int) columns instead of an error, e.g. ['NA', ''] */
  nullValues?: readonly string[];
  /** one character (default ',') */
  delimiter?: string;
  /** what to do with a malformed record (default 'fail') */
  onError?: 'fail' | 'skip';
  /** how many skip reasons stats.reasons keeps (default 5) */
  maxReasons?: number;
  /** file encoding (default 'utf8') */
  encoding?: BufferEncoding;
}

export interface CsvStats {
  /** records yielded */
  records: number;
  /** malformed records skipped (onError 'skip') */
  skipped: number;
  /** the first few skip reasons, as 'file:line: reason' */
  reasons: string[];
  /** physical lines read */
  lines: number;
}

/** A malformed record under onError 'fail'. */
export class CsvError extends Error {
  constructor(readonly file: string, readonly line: number, readonly reason: string) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'CsvError';
  }
}

/** A raw record from the tokenizer: its fields, the line it starts on, and its first problem. */
export interface CsvRecord {
  fields: string[];
  line: number;
  error: string | null;
}

const QUOTE = 34, LF = 10, CR = 13;
const enum S { FieldStart, Unquoted, Quoted, QuoteInQuoted }

/** RFC 4180 tokenizer over text chunks; records are pushed to `out`. Blank lines are skipped. */
export class CsvTokenizer {
  private state = S.FieldStart;
  private field = '';
  private fields: string[] = [];
  private line = 1;
  private recordLine = 1;
  private quoteLine = 1;
  private error: string | null = null;
  private skipLF = false;
  private first = true;
  private partial = false;
  private readonly delim: number;

  constructor(delimiter = ',') {
    if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
      throw new RangeError(`CSV: delimiter must be one character other than a quote or a line end, got ${JSON.stringify(delimiter)}`);
    }
    this.delim = delimiter.charCodeAt(0);
  }

  /** Physical lines read so far, a last line without a line end included. */
  get lines(): number {
    return this.line - 1 + (this.partial ? 1 : 0);
  }

  push(chunk: string, out: CsvRecord[]): void {
    let i = 0;
    const n = chunk.length;
    if (this.first && n > 0) {
      this.first = false;
      if (chunk.charCodeAt(0) === 0xfeff) i = 1; // byte-order mark
    }
    let seg = i;
    const D = this.delim;
    for (; i < n; i++) {
      const c = chunk.charCodeAt(i);
      if (this.skipLF) {
        this.skipLF = false;
        if (c === LF) {
          seg = i + 1;
          continue;
        }
      }
      switch (this.state) {
        case S.FieldStart:
          if (c === QUOTE) {
            this.state = S.Quoted;
            this.quoteLine = this.line;
            seg = i + 1;
          } else if (c === D) {
            this.endField('');
            seg = i + 1;
          } else if (c === LF || c === CR) {
            this.endField('');
            this.endRecord(out, c);
            seg = i + 1;
          } else {
            this.state = S.Unquoted;
            seg = i;
          }
          break;
        case S.Unquoted:
          if (c === D) {
            this.endField(this.field + chunk.slice(seg, i));
            this.state = S.FieldStart;
            seg = i + 1;
          } else if (c === LF || c === CR) {
            this.endField(this.field + chunk.slice(seg, i));
            this.endRecord(out, c);
            this.state = S.FieldStart;
            seg = i + 1;
          } else if (c === QUOTE) {
            this.fault(`a quote inside unquoted field ${this.fields.length + 1} (fields containing quotes must be quoted, with quotes doubled)`);
          }
          break;
        case S.Quoted:
          if (c === QUOTE) {
            this.field += chunk.slice(seg, i);
            this.state = S.QuoteInQuoted;
            seg = i + 1;
          } else if (c === LF) {
            this.line++;
          }
          break;
        case S.QuoteInQuoted:
          if (c === QUOTE) {
            // a doubled quote: the first one was part of the text
            this.field += '"';
            this.state = S.Quoted;
            seg = i + 1;
          } else if (c === D) {
            this.endField(this.field);
            this.state = S.FieldStart;
            seg = i + 1;
          } else if (c === LF || c === CR) {
            this.endField(this.field);
            this.endRecord(out, c);
            this.state = S.FieldStart;
            seg = i + 1;
          } else {
            this.fault(`unexpected ${JSON.stringify(chunk[i])} after the closing quote of field ${this.fields.length + 1}`);
            this.state = S.Unquoted;
            seg = i;
          }
          break;
      }
    }
    if (this.state === S.Unquoted || this.state === S.Quoted) this.field += chunk.slice(seg, n);
    if (n > 0) {
      const last = chunk.charCodeAt(n - 1);
      this.partial = last !== LF && last !== CR;
    }
  }

  /** End of input: the last record (without a final line end) and any unterminated quote. */
  end(out: CsvRecord[]): void {
    if (this.state === S.Quoted) {
      this.fault(`unterminated quoted field ${this.fields.length + 1}: the quote opened on line ${this.quoteLine} is never closed`);
    }
    if (this.state !== S.FieldStart || this.fields.length > 0) {
      this.endField(this.field);
      this.endRecord(out, -1);
    }
    this.state = S.FieldStart;
  }

  private fault(reason: string): void {
    if (this.error === null) this.error = reason;
  }

  private endField(value: string): void {
    this.fields.push(value);
    this.field = '';
  }

  private endRecord(out: CsvRecord[], c: number): void {
    // a blank line is not a record
    if (!(this.fields.length === 1 && this.fields[0] === '' && this.error === null)) {
      out.push({ fields: this.fields, line: this.recordLine, error: this.error });
    }
    this.fields = [];
    this.error = null;
    if (c === CR) this.skipLF = true;
    if (c >= 0) this.line++;
    this.recordLine = this.line;
  }
}

/**
 * A re-iterable streaming CSV reader (made by readCsv / readCsvRows); each pass reopens the file and
 * resets `stats`.
 */
export class CsvReader<Row> implements AsyncIterable<Row> {
  /** Counts of the current (or last) pass; reset when a pass starts. */
  readonly stats: CsvStats = { records: 0, skipped: 0, reasons: [], lines: 0 };
  /** the selected column names (from the header, or '0', '1', ... without one), known once a pass has started */
  columns: string[] | undefined;

  constructor(
    readonly path: string,
    readonly options: Readonly<CsvOptions>,
    private readonly build: (values: CsvValue[], names: string[]) => Row,
  ) {
    const onError = options.onError ?? 'fail';
    if (onError !== 'fail' && onError !== 'skip') throw new RangeError(`readCsv: onError must be 'fail' or 'skip', got '${String(onError)}'`);
    new CsvTokenizer(options.delimiter); // validates the delimiter now rather than on first use
    for (const [k, v] of Object.entries(options.types ?? {})) {
      if (v !== 'string' && v !== 'number' && v !== 'int') throw new RangeError(`readCsv: type of column '${k}' must be 'string', 'number' or 'int', got '${String(v)}'`);
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Row> {
    const o = this.options;
    const stats = this.stats;
    stats.records = 0;
    stats.skipped = 0;
    stats.reasons = [];
    stats.lines = 0;
    const skip = (o.onError ?? 'fail') === 'skip';
    const maxReasons = o.maxReasons ?? 5;
    const nulls = new Set(o.nullValues ?? []);
    const tok = new CsvTokenizer(o.delimiter);
    const hasHeader = o.header ?? true;
    let width = -1;
    let names: string[] = [];
    let pick: number[] = [];
    let types: CsvType[] = [];
    const values: CsvValue[] = [];

    const setup = (header: string[] | null, n: number): void => {
      width = n;
      const all = header ?? Array.from({ length: n }, (_, i) => String(i));
      pick = o.columns
        ? o.columns.map((c) => {
          const idx = typeof c === 'number' ? c : all.indexOf(c);
          if (!Number.isInteger(idx) || idx < 0 || idx >= n) {
            throw new Error(`readCsv ${this.path}: no column ${typeof c === 'number' ? c : `'${c}'`} (columns: ${all.join(', ')})`);
          }
          return idx;
        })
        : all.map((_, i) => i);
      names = pick.map((i) => all[i]);
      for (const k of Object.keys(o.types ?? {})) {
        const known = all.includes(k) || (/^\d+$/.test(k) && Number(k) < n);
        if (!known) throw new Error(`readCsv ${this.path}: types names column '${k}', which is not in the file (columns: ${all.join(', ')})`);
      }
      types = pick.map((i) => o.types?.[all[i]] ?? o.types?.[i] ?? 'string');
      this.columns = names;
    };

    const convert = (rec: CsvRecord): string | null => {
      if (rec.error) return rec.error;
      if (rec.fields.length !== width) {
        return `record has ${rec.fields.length} field${rec.fields.length === 1 ? '' : 's'}, expected ${width}${hasHeader ? ' (as in the header)' : ' (as in the first record)'}`;
      }
      values.length = 0;
      for (let k = 0; k < pick.length; k++) {
        const raw = rec.fields[pick[k]];
        const type = types[k];
        if (type === 'string') {
          values.push(raw);
          continue;
        }
        if (nulls.has(raw)) {
          values.push(null);
          continue;
        }
        const v = raw.trim() === '' ? NaN : Number(raw);
        if (!Number.isFinite(v) || (type === 'int' && !Number.isInteger(v))) {
          return `column '${names[k]}': ${JSON.stringify(raw)} is not ${type === 'int' ? 'an integer' : 'a number'}`;
        }
        values.push(v);
      }
      return null;
    };

    const stream = createReadStream(this.path, { encoding: o.encoding ?? 'utf8', highWaterMark: 1 << 16 });
    const pending: CsvRecord[] = [];
    let done = false;
    const chunks = stream[Symbol.asyncIterator]();
    try {
      while (!done) {
        let r: IteratorResult<string>;
        try {
          r = await chunks.next();
        } catch (e) {
          throw new Error(`readCsv ${this.path}: ${(e as Error).message}`);
        }
        if (r.done) {
          tok.end(pending);
          done = true;
        } else {
          tok.push(r.value, pending);
        }
        stats.lines = tok.lines;
        for (let j = 0; j < pending.length; j++) {
          const rec = pending[j];
          if (width < 0) {
            if (hasHeader) {
              // a header cannot be skipped: every later record is read against it
              if (rec.error) throw new CsvError(this.path, rec.line, `malformed header: ${rec.error}`);
              setup(rec.fields, rec.fields.length);
              continue;
            }
            if (rec.error) {
              this.malformed(rec.line, rec.error, skip, maxReasons);
              continue;
            }
            setup(null, rec.fields.length);
          }
          const err = convert(rec);
          if (err !== null) {
            this.malformed(rec.line, err, skip, maxReasons);
            continue;
          }
          stats.records++;
          yield this.build(values.slice(), names);
        }
        pending.length = 0;
      }
    } finally {
      stream.destroy();
    }
  }

  private malformed(line: number, reason: string, skip: boolean, maxReasons: number): void {
    if (!skip) throw new CsvError(this.path, line, reason);
    this.stats.skipped++;
    if (this.stats.reasons.length < maxReasons) this.stats.reasons.push(`${this.path}:${line}: ${reason}`);
  }
}

/**
 * Rows as objects keyed by column name (the header's, or '0', '1', ... with header: false):
 *
 * ```ts
 * const ratings = readCsv(path, { columns: ['userId', 'rating'], types: { userId: 'int', rating: 'number' } });
 * for await (const r of ratings) r.userId, r.rating
 * ```
 */
export function readCsv(path: string, options: CsvOptions = {}): CsvReader<Record<string, CsvValue>> {
  return new CsvReader(path, options, (values, names) => {
    const row: Record<string, CsvValue> = {};
    for (let k = 0; k < names.length; k++) row[names[k]] = values[k];
    return row;
  });
}

/** Rows as arrays of values, in the order of the selected columns (reader.columns names them). */
export function readCsvRows(path: string, options: CsvOptions = {}): CsvReader<CsvValue[]> {
  return new CsvReader(path, options, (values) => values);
}
