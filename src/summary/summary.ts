import * as fs from 'node:fs';
import * as path from 'node:path';
import { Trigger } from '../optim/trigger.js';
import { AppendFile, checkFlushOptions, EventWriter, type EventWriterOptions } from './event-writer.js';
import { readScalars } from './event-reader.js';

/**
 * BigDL's TrainSummary / ValidationSummary: scalars for TensorBoard under
 * `<logDir>/<appName>/train` and `<logDir>/<appName>/validation`.
 *
 * Each summary writes one new event file (`events.out.tfevents.<seconds>.<hostname>`) and
 * appends to `scalars.jsonl` in the same folder, one line per scalar:
 * `{"tag":"Loss","value":0.25,"step":100,"wallTime":1700000000.123}` (wallTime in seconds;
 * NaN and infinite values are written as null, since JSON has no such numbers; the event file
 * keeps them). Writes are buffered and flushed every `flushEvery` scalars (default 20), on a
 * write at least `flushMillis` (default 5000) after the last flush, on flush(), close(),
 * readScalar() and at process exit. Both files are only ever appended to, so a crash loses at
 * most the unflushed scalars, never flushed ones.
 */

export type SummaryOptions = EventWriterOptions;

export abstract class Summary {
  /** The folder written to: `<logDir>/<appName>/<train|validation>`. */
  readonly folder: string;
  private readonly writer: EventWriter;
  private readonly jsonl: AppendFile;
  private readonly flushEvery: number;
  private readonly flushMillis: number;
  private readonly now: () => number;
  private lastFlush: number;

  protected constructor(readonly logDir: string, readonly appName: string, sub: string, opts: SummaryOptions = {}) {
    const who = this.constructor.name;
    if (typeof logDir !== 'string' || logDir === '') throw new RangeError(`${who}: logDir must be a non-empty path`);
    if (typeof appName !== 'string' || appName === '' || /[/\\]/.test(appName) || appName === '.' || appName === '..') {
      throw new RangeError(`${who}: appName must be a non-empty name without path separators, got ${JSON.stringify(appName)}`);
    }
    ({ flushEvery: this.flushEvery, flushMillis: this.flushMillis } = checkFlushOptions(who, opts));
    this.now = opts.now ?? Date.now;
    this.folder = path.join(logDir, appName, sub);
    this.writer = new EventWriter(this.folder, { ...opts, flushEvery: Infinity, flushMillis: Infinity });
    const jsonlPath = path.join(this.folder, 'scalars.jsonl');
    // a line cut short by an earlier crash gets its newline, so ours start on a line of their own
    const size = fs.statSync(jsonlPath, { throwIfNoEntry: false })?.size ?? 0;
    let needsNewline = false;
    if (size > 0) {
      const fd = fs.openSync(jsonlPath, 'r');
      const last = Buffer.alloc(1);
      fs.readSync(fd, last, 0, 1, size - 1);
      fs.closeSync(fd);
      needsNewline = last[0] !== 0x0a;
    }
    this.jsonl = new AppendFile(jsonlPath);
    if (needsNewline) this.jsonl.append('\n');
    this.lastFlush = this.now();
  }

  /** The event file this summary writes. */
  get eventFile(): string {
    return this.writer.path;
  }

  /** The JSON-lines file (shared by every run logging to the folder). */
  get jsonlFile(): string {
    return this.jsonl.path;
  }

  get closed(): boolean {
    return this.writer.closed;
  }

  /** Records a scalar (e.g. "Loss", "Top1Accuracy") at a step (usually the iteration). */
  addScalar(tag: string, value: number, step: number): this {
    const who = `${this.constructor.name}.addScalar`;
    if (this.closed) throw new Error(`${who}: the summary in ${this.folder} is closed`);
    if (typeof tag !== 'string' || tag === '') throw new RangeError(`${who}: tag must be a non-empty string, got ${JSON.stringify(tag)}`);
    if (typeof value !== 'number') throw new TypeError(`${who}: value of '${tag}' must be a number, got ${typeof value}`);
    if (!Number.isSafeInteger(step)) throw new RangeError(`${who}: step of '${tag}' must be an integer, got ${step}`);
    const now = this.now();
    const wallTime = now / 1000;
    this.writer.addScalar(tag, value, step, wallTime);
    this.jsonl.append(`${JSON.stringify({ tag, value: Number.isFinite(value) ? value : null, step, wallTime })}\n`);
    if (this.writer.pending >= this.flushEvery || now - this.lastFlush >= this.flushMillis) this.flush();
    return this;
  }

  /**
   * [step, value, wallTime] of every scalar tagged `tag` in this folder's event files (this run's
   * and earlier ones'), sorted by step; values are float32, as stored. Flushes first.
   */
  readScalar(tag: string): [number, number, number][] {
    this.flush();
    return readScalars(this.folder, tag);
  }

  flush(): this {
    if (!this.closed) {
      this.writer.flush();
      this.jsonl.flush();
      this.lastFlush = this.now();
    }
    return this;
  }

  /** Flushes and closes both files; readScalar still works afterwards. */
  close(): void {
    try {
      this.writer.close();
    } finally {
      this.jsonl.close();
    }
  }
}

/** The scalars the trainer logs during training, each under its own trigger. */
export const TRAIN_SUMMARY_NAMES = ['LearningRate', 'Loss', 'Throughput'] as const;
export type TrainSummaryName = (typeof TRAIN_SUMMARY_NAMES)[number];

/**
 * Training scalars in `<logDir>/<appName>/train`. As in BigDL, "LearningRate", "Loss" and
 * "Throughput" are logged every iteration unless setSummaryTrigger says otherwise (BigDL's
 * "Parameters" histograms are not supported).
 */
export class TrainSummary extends Summary {
  private readonly triggers = new Map<TrainSummaryName, Trigger>(
    TRAIN_SUMMARY_NAMES.map((n) => [n, Trigger.severalIteration(1)]));

  constructor(logDir: string, appName: string, opts: SummaryOptions = {}) {
    super(logDir, appName, 'train', opts);
  }

  setSummaryTrigger(name: TrainSummaryName, trigger: Trigger): this {
    if (!(TRAIN_SUMMARY_NAMES as readonly string[]).includes(name)) {
      throw new RangeError(`TrainSummary.setSummaryTrigger: '${name}' is not one of ${TRAIN_SUMMARY_NAMES.join(', ')}${(name as string) === 'Parameters' ? ' (parameter histograms are not supported)' : ''}`);
    }
    if (!(trigger instanceof Trigger)) throw new TypeError(`TrainSummary.setSummaryTrigger: the trigger for '${name}' is not a Trigger`);
    this.triggers.set(name, trigger);
    return this;
  }

  getSummaryTrigger(name: TrainSummaryName): Trigger | undefined {
    return this.triggers.get(name);
  }
}

/** Validation scalars (one per validation method, tagged with its name) in `<logDir>/<appName>/validation`. */
export class ValidationSummary extends Summary {
  constructor(logDir: string, appName: string, opts: SummaryOptions = {}) {
    super(logDir, appName, 'validation', opts);
  }
}
