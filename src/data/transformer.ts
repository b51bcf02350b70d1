/**
 * Transformer: BigDL's `Transformer[A, B]`, a function from a stream of A to a stream of B
 * (`apply(prev: Iterator[A]): Iterator[B]`), chained with `->` in BigDL and with `chain(a, b)` or
 * `a.andThen(b)` here.
 *
 * A stage may be synchronous (`apply` over an Iterable), asynchronous (`applyAsync` over an
 * AsyncIterable), or both. `DataSet.epochSync` needs `apply` at every stage; `DataSet.epoch` uses
 * `applyAsync` where the input is asynchronous and `apply` otherwise. Transformers built on
 * `StepTransformer` (everything in this package except `mapAsync`) have both.
 */

/** What a stage knows about the pass it is part of: seeded stages derive their randomness from it. */
export interface EpochContext {
  /** the epoch number passed to `DataSet.epoch(n)` (0 when a transformer is applied directly) */
  readonly epoch: number;
}

export interface Transformer<A, B> {
  /** shown in error messages; defaults to the class name */
  readonly name?: string;
  /** Synchronous form: present when the stage never awaits. */
  apply?(prev: Iterable<A>, ctx?: EpochContext): Iterable<B>;
  /** Asynchronous form. */
  applyAsync?(prev: AsyncIterable<A>, ctx?: EpochContext): AsyncIterable<B>;
}

const EPOCH0: EpochContext = Object.freeze({ epoch: 0 });

export function transformerName(t: Transformer<unknown, unknown>): string {
  return t.name ?? t.constructor?.name ?? 'transformer';
}

/**
 * The per-pass state of a StepTransformer: `push` receives each input and appends any outputs to
 * `out`; `flush` runs once at the end of the input (e.g. a last partial batch).
 */
export interface Stepper<A, B> {
  push(item: A, out: B[]): void;
  flush?(out: B[]): void;
}

/**
 * Base class for transformers written as one step function, which gives them both the sync and the
 * async form. Subclasses implement `stepper(ctx)`, called once per pass (per epoch), so state such as
 * a seeded generator or a partial batch never leaks from one pass into the next.
 */
export abstract class StepTransformer<A, B> implements Transformer<A, B> {
  abstract stepper(ctx: EpochContext): Stepper<A, B>;

  *apply(prev: Iterable<A>, ctx: EpochContext = EPOCH0): Iterable<B> {
    const s = this.stepper(ctx);
    const out: B[] = [];
    for (const item of prev) {
      s.push(item, out);
      if (out.length > 0) yield* drain(out);
    }
    s.flush?.(out);
    yield* drain(out);
  }

  async *applyAsync(prev: AsyncIterable<A>, ctx: EpochContext = EPOCH0): AsyncIterable<B> {
    const s = this.stepper(ctx);
    const out: B[] = [];
    for await (const item of prev) {
      s.push(item, out);
      if (out.length > 0) yield* drain(out);
    }
    s.flush?.(out);
    yield* drain(out);
  }

  /** `this -> next` */
  andThen<C>(next: Transformer<B, C>): Transformer<A, C> {
    return chain(this, next);
  }
}

function* drain<B>(out: B[]): Iterable<B> {
  for (let i = 0; i < out.length; i++) yield out[i];
  out.length = 0;
}

class MapTransformer<A, B> extends StepTransformer<A, B> {
  constructor(private readonly fn: (item: A, ctx: EpochContext) => B, readonly name = 'map') {
    super();
  }

  stepper(ctx: EpochContext): Stepper<A, B> {
    const fn = this.fn;
    return { push: (item, out) => void out.push(fn(item, ctx)) };
  }
}

/** A transformer applying `fn` to every element (synchronous; use mapAsync for an async fn). */
export function map<A, B>(fn: (item: A, ctx: EpochContext) => B, name?: string): StepTransformer<A, B> {
  return new MapTransformer(fn, name);
}

/** A transformer awaiting `fn` on every element, one at a time, in order. It has no sync form. */
export function mapAsync<A, B>(fn: (item: A, ctx: EpochContext) => Promise<B> | B, name = 'mapAsync'): Transformer<A, B> {
  return {
    name,
    async *applyAsync(prev: AsyncIterable<A>, ctx: EpochContext = EPOCH0): AsyncIterable<B> {
      for await (const item of prev) yield await fn(item, ctx);
    },
  };
}

/** `a -> b`: the sync form exists when both have one; the async form uses each stage's async form. */
export function chain<A, B, C>(a: Transformer<A, B>, b: Transformer<B, C>): Transformer<A, C>;
export function chain<A, B, C, D>(a: Transformer<A, B>, b: Transformer<B, C>, c: Transformer<C, D>): Transformer<A, D>;
export function chain(...ts: Transformer<any, any>[]): Transformer<any, any>;
export function chain(...ts: Transformer<any, any>[]): Transformer<any, any> {
  if (ts.length === 0) throw new RangeError('chain: needs at least one transformer');
  const name = ts.map(transformerName).join(' -> ');
  const allSync = ts.every((t) => typeof t.apply === 'function');
  const composed: Transformer<any, any> = {
    name,
    applyAsync(prev: AsyncIterable<any>, ctx: EpochContext = EPOCH0): AsyncIterable<any> {
      let it: AsyncIterable<any> = prev;
      for (const t of ts) it = applyStageAsync(t, it, ctx);
      return it;
    },
  };
  if (allSync) {
    (composed as { apply?: Transformer<any, any>['apply'] }).apply = (prev: Iterable<any>, ctx: EpochContext = EPOCH0) => {
      let it: Iterable<any> = prev;
      for (const t of ts) it = t.apply!(it, ctx);
      return it;
    };
  }
  return composed;
}

/** Runs one stage over an async input: its async form, or an error saying why it cannot. */
export function applyStageAsync<A, B>(t: Transformer<A, B>, prev: AsyncIterable<A>, ctx: EpochContext): AsyncIterable<B> {
  if (typeof t.applyAsync === 'function') return t.applyAsync(prev, ctx);
  throw new TypeError(
    `transformer '${transformerName(t)}' has only a synchronous apply(), but its input is asynchronous ` +
    '(an async source or an earlier async stage): give it an applyAsync(), or build it with map() or StepTransformer, which provide both',
  );
}

/** Wraps a sync iterable as an async one. */
export async function* toAsync<T>(it: Iterable<T>): AsyncIterable<T> {
  yield* it;
}
