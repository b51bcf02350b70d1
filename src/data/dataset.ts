import { epochGenerator } from './seed.js';
import { applyStageAsync, map, toAsync, transformerName, type EpochContext, type Transformer } from './transformer.js';

type SourceResult<T> = Iterable<T> | AsyncIterable<T>;

type Source =
  | { kind: 'array'; items: readonly unknown[] }
  | { kind: 'iterable'; fn: (epoch: number) => SourceResult<unknown>; size?: number };

type Stage = { kind: 'transform'; t: Transformer<any, any> } | { kind: 'shuffle'; seed: number };

export interface FromIterableOptions {
  /** the number of items one pass yields, when known: what size() reports */
  size?: number;
}

/**
 * A finite, re-iterable collection, transformed lazily: BigDL's local DataSet with its `->`
 * transformer chain. Every method returns a new DataSet and nothing runs until an epoch is iterated:
 *
 * ```ts
 * const batches = DataSet.array(samples).shuffle(7).transform(new SampleToMiniBatch(128));
 * for (let e = 0; e < 10; e++) for await (const b of batches.epoch(e)) ...
 * ```
 *
 * Each pass is one epoch; seeded stages (shuffle, RandomCrop, HFlip) draw from a generator derived
 * from (seed, epoch), so epoch n always yields the same order and crops for the same seeds, and the
 * next epoch a different one.
 *
 * Items are handed out as the stages produce them. SampleToMiniBatch allocates fresh tensors for
 * every batch unless it is built with `reuseBuffers: true`, in which case a batch is only valid
 * until the next one is pulled (the consumer opts in to finishing with it first).
 */
export class DataSet<T> {
  private constructor(private readonly source: Source, private readonly stages: readonly Stage[]) {}

  /** The items of an array (the array is copied, the items are not). */
  static array<T>(items: readonly T[]): DataSet<T> {
    if (!Array.isArray(items)) throw new TypeError('DataSet.array: expects an array');
    return new DataSet<T>({ kind: 'array', items: items.slice() }, []);
  }

  /**
   * A source that `fn(epoch)` produces afresh for every pass: a sync or async iterable, e.g.
   * `DataSet.fromIterable(() => readCsv(path))`. Sync iterables allow epochSync.
   */
  static fromIterable<T>(fn: (epoch: number) => SourceResult<T>, options: FromIterableOptions = {}): DataSet<T> {
    if (typeof fn !== 'function') throw new TypeError('DataSet.fromIterable: expects a function returning a (async) iterable, called once per epoch');
    const { size } = options;
    if (size !== undefined && (!Number.isInteger(size) || size < 0)) throw new RangeError(`DataSet.fromIterable: size must be a non-negative integer, got ${size}`);
    return new DataSet<T>({ kind: 'iterable', fn, size }, []);
  }

  /** `this -> transformer` */
  transform<U>(transformer: Transformer<T, U>): DataSet<U> {
    if (!transformer || (typeof transformer.apply !== 'function' && typeof transformer.applyAsync !== 'function')) {
      throw new TypeError('DataSet.transform: expects a Transformer (an object with apply() and/or applyAsync())');
    }
    return new DataSet<U>(this.source, [...this.stages, { kind: 'transform', t: transformer }]);
  }

  /** Shorthand for transform(map(fn)). */
  map<U>(fn: (item: T, ctx: EpochContext) => U): DataSet<U> {
    return this.transform(map(fn));
  }

  /**
   * Items in a new random order every epoch, the permutation drawn from a generator seeded by
   * (seed, epoch). An array source is shuffled by index; anything else (an iterable source, or
   * after a transform) is gathered into memory for the pass first.
   */
  shuffle(seed = 42): DataSet<T> {
    if (!Number.isFinite(seed)) throw new RangeError(`DataSet.shuffle: seed must be a finite number, got ${seed}`);
    return new DataSet<T>(this.source, [...this.stages, { kind: 'shuffle', seed }]);
  }

  /**
   * The number of items in the source, as BigDL's DataSet.size(): transforms that group items
   * (SampleToMiniBatch) do not change it. Throws when a fromIterable source did not declare its size.
   */
  size(): number {
    if (this.source.kind === 'array') return this.source.items.length;
    if (this.source.size !== undefined) return this.source.size;
    throw new RangeError('DataSet.size: the size of this fromIterable source is unknown: pass { size } to DataSet.fromIterable, or use count()');
  }

  /** One pass over the data, for `for await (const x of ds.epoch(n))`. */
  epoch(n = 0): AsyncIterable<T> {
    checkEpoch(n);
    const self = this;
    return {
      [Symbol.asyncIterator]: () => self.runAsync(n)[Symbol.asyncIterator](),
    };
  }

  /**
   * One pass, synchronously: the source must be an array or give a sync iterable, and every stage
   * must have a synchronous apply().
   */
  epochSync(n = 0): Iterable<T> {
    checkEpoch(n);
    for (const s of this.stages) {
      if (s.kind === 'transform' && typeof s.t.apply !== 'function') {
        throw new TypeError(`DataSet.epochSync: transformer '${transformerName(s.t)}' is asynchronous only; iterate with epoch(n) instead`);
      }
    }
    const self = this;
    return {
      [Symbol.iterator]: () => self.runSync(n)[Symbol.iterator](),
    };
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.epoch(0)[Symbol.asyncIterator]();
  }

  /** All items of one epoch. */
  async toArray(epoch = 0): Promise<T[]> {
    const out: T[] = [];
    for await (const x of this.epoch(epoch)) out.push(x);
    return out;
  }

  toArraySync(epoch = 0): T[] {
    return Array.from(this.epochSync(epoch));
  }

  /** The number of items one epoch yields after all transforms (iterates the epoch). */
  async count(epoch = 0): Promise<number> {
    let n = 0;
    for await (const _ of this.epoch(epoch)) n++;
    return n;
  }

  // ---- running a pass -------------------------------------------------------------------------

  private runSync(n: number): Iterable<T> {
    const ctx: EpochContext = { epoch: n };
    let it: Iterable<unknown>;
    let first = 0;
    if (this.source.kind === 'array') {
      it = this.source.items;
      const s0 = this.stages[0];
      if (s0?.kind === 'shuffle') {
        it = permuted(this.source.items, s0.seed, n);
        first = 1;
      }
    } else {
      const r = this.source.fn(n);
      if (!isIterable(r)) {
        throw new TypeError('DataSet.epochSync: the source gave an async iterable; iterate with epoch(n) instead');
      }
      it = r;
    }
    for (let i = first; i < this.stages.length; i++) {
      const s = this.stages[i];
      it = s.kind === 'shuffle' ? shuffledLazy(it, s.seed, n) : s.t.apply!(it, ctx);
    }
    return it as Iterable<T>;
  }

  private async *runAsync(n: number): AsyncIterable<T> {
    const ctx: EpochContext = { epoch: n };
    let sync: Iterable<unknown> | undefined;
    let async: AsyncIterable<unknown> | undefined;
    let first = 0;
    if (this.source.kind === 'array') {
      sync = this.source.items;
      const s0 = this.stages[0];
      if (s0?.kind === 'shuffle') {
        sync = permuted(this.source.items, s0.seed, n);
        first = 1;
      }
    } else {
      const r = this.source.fn(n);
      if (isIterable(r)) sync = r;
      else if (isAsyncIterable(r)) async = r;
      else throw new TypeError('DataSet.fromIterable: the function must return an iterable or an async iterable');
    }
    // stay synchronous as long as the stages allow: it saves an await per item per stage
    for (let i = first; i < this.stages.length; i++) {
      const s = this.stages[i];
      if (s.kind === 'shuffle') {
        if (sync) sync = shuffledLazy(sync, s.seed, n);
        else {
          const items: unknown[] = [];
          for await (const x of async!) items.push(x);
          sync = permuted(items, s.seed, n);
          async = undefined;
        }
      } else if (sync && typeof s.t.apply === 'function') {
        sync = s.t.apply(sync, ctx);
      } else {
        async = applyStageAsync(s.t, async ?? toAsync(sync!), ctx);
        sync = undefined;
      }
    }
    if (sync) yield* sync as Iterable<T>;
    else yield* async as AsyncIterable<T>;
  }
}

function checkEpoch(n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`DataSet: the epoch number must be a non-negative integer, got ${n}`);
}

function* permuted<T>(items: readonly T[], seed: number, epoch: number): Iterable<T> {
  const perm = epochGenerator(seed, epoch, 'DataSet.shuffle').randperm(items.length);
  for (let i = 0; i < perm.length; i++) yield items[perm[i]];
}

function* shuffledLazy<T>(it: Iterable<T>, seed: number, epoch: number): Iterable<T> {
  yield* permuted(Array.from(it), seed, epoch);
}

function isIterable(x: unknown): x is Iterable<unknown> {
  return x != null && typeof (x as Iterable<unknown>)[Symbol.iterator] === 'function';
}

function isAsyncIterable(x: unknown): x is AsyncIterable<unknown> {
  return x != null && typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}
