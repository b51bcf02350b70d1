/**
 * Text files line by line, streamed: LF and CRLF line ends, a leading byte-order mark dropped, the
 * last line yielded even without a final line end. A reader is re-iterable (each pass reopens the
 * file), so `DataSet.fromIterable(() => readLines(path))` works.
 */
import { createReadStream } from 'node:fs';

export interface ReadLinesOptions {
  /** file encoding (default 'utf8'; 'latin1' for single-byte files) */
  encoding?: BufferEncoding;
  /** leave out empty lines (default false) */
  skipEmpty?: boolean;
}

export function readLines(path: string, options: ReadLinesOptions = {}): AsyncIterable<string> {
  return {
    [Symbol.asyncIterator]: () => lines(path, options)[Symbol.asyncIterator](),
  };
}

async function* lines(path: string, options: ReadLinesOptions): AsyncIterable<string> {
  const stream = createReadStream(path, { encoding: options.encoding ?? 'utf8', highWaterMark: 1 << 16 });
  const skipEmpty = options.skipEmpty ?? false;
  let rest = '';
  let first = true;
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      let text = rest + chunk;
      let from = rest.length; // rest holds no '\n': scan only the new text
      if (first && text.length > 0) {
        first = false;
        if (text.charCodeAt(0) === 0xfeff) {
          text = text.slice(1);
          from = 0;
        }
      }
      let start = 0;
      for (let nl = text.indexOf('\n', from); nl >= 0; nl = text.indexOf('\n', start)) {
        const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
        const line = text.slice(start, end);
        start = nl + 1;
        if (!(skipEmpty && line.length === 0)) yield line;
      }
      rest = text.slice(start);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== undefined) throw new Error(`readLines ${path}: ${(e as Error).message}`);
    throw e;
  } finally {
    stream.destroy();
  }
  if (rest.endsWith('\r')) rest = rest.slice(0, -1);
  if (rest.length > 0) yield rest;
}
