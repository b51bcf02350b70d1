/**
 * Training progress for people: on a terminal a bar rewritten in place; in logs one line per
 * epoch (and every `everySeconds`); nothing in quiet mode. Writes to stderr so that stdout stays
 * for results.
 */
export type ProgressMode = 'auto' | 'bar' | 'lines' | 'quiet';

export interface ProgressInfo {
  epoch: number;
  maxEpoch: number | undefined;
  batchInEpoch: number;
  batchesPerEpoch: number | undefined;
  iteration: number;
  loss: number;
  samplesPerSecond: number;
  /** seconds left, when the end can be estimated */
  etaSeconds: number | undefined;
}

const fmtTime = (s: number): string => {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60), sec = Math.round(s % 60);
  return m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
};

export class Progress {
  private readonly mode: Exclude<ProgressMode, 'auto'>;
  private lastLine = 0;
  private barShown = false;

  constructor(mode: ProgressMode = 'auto', private readonly out: NodeJS.WriteStream = process.stderr, private readonly everySeconds = 10) {
    this.mode = mode === 'auto' ? (out.isTTY ? 'bar' : 'lines') : mode;
  }

  private describe(p: ProgressInfo): string {
    const epoch = `epoch ${p.epoch}${p.maxEpoch ? `/${p.maxEpoch}` : ''}`;
    const batch = `${p.batchInEpoch}${p.batchesPerEpoch ? `/${p.batchesPerEpoch}` : ''}`;
    const eta = p.etaSeconds === undefined ? '' : ` | ETA ${fmtTime(p.etaSeconds)}`;
    return `${epoch} ${batch} | iter ${p.iteration} | loss ${p.loss.toFixed(4)} | ${Math.round(p.samplesPerSecond).toLocaleString('en-US')} samples/s${eta}`;
  }

  update(p: ProgressInfo): void {
    if (this.mode === 'quiet') return;
    if (this.mode === 'bar') {
      const width = 24;
      const frac = p.batchesPerEpoch ? Math.min(1, p.batchInEpoch / p.batchesPerEpoch) : 0;
      const filled = Math.round(frac * width);
      const bar = p.batchesPerEpoch ? `[${'='.repeat(Math.max(filled - 1, 0))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}] ` : '';
      this.out.write(`\r\x1b[K${bar}${this.describe(p)}`);
      this.barShown = true;
      return;
    }
    const now = performance.now();
    if (now - this.lastLine >= this.everySeconds * 1000) {
      this.lastLine = now;
      this.out.write(`${this.describe(p)}\n`);
    }
  }

  /** A line that stays (epoch summaries, validation results). */
  line(text: string): void {
    if (this.mode === 'quiet') return;
    if (this.barShown) this.out.write('\r\x1b[K');
    this.out.write(`${text}\n`);
    this.barShown = false;
  }

  end(): void {
    if (this.barShown) this.out.write('\r\x1b[K');
    this.barShown = false;
  }
}
