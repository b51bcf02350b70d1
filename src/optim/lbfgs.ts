import { requireFinite } from '../tensor/checks.js';
import { add, mul, neg, sub } from '../tensor/ops.js';
import { shapeStr } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { checkHyper, OptimMethod, type Feval, type LearningRateOptions, type SavedState, type StateValue } from './optim-method.js';

export interface LBFGSOptions extends Omit<LearningRateOptions, 'learningRateDecay'> {
  /** iterations per optimize() call (default 20) */
  maxIter?: number;
  /** function evaluations per optimize() call (default floor(maxIter * 5 / 4), as PyTorch) */
  maxEval?: number;
  /** stop when max|gradient| <= tolFun (PyTorch's tolerance_grad; default 1e-7) */
  tolFun?: number;
  /** stop when a step, or the change of the loss, is below tolX (PyTorch's tolerance_change; default 1e-9) */
  tolX?: number;
  /** history length (PyTorch's history_size; default 100) */
  nCorrection?: number;
  /** 'strongWolfe' for PyTorch's strong-Wolfe line search; default none (fixed steps of learningRate) */
  lineSearch?: 'strongWolfe';
}

/**
 * Limited-memory BFGS, a port of PyTorch's torch.optim.LBFGS (itself from Torch7's optim.lbfgs
 * and minFunc), including its strong-Wolfe line search. One `optimize(feval, weights)` call runs
 * up to `maxIter` iterations and calls feval several times (the gradient it returns is copied, so
 * feval may reuse its buffer); the history carries over between calls. `losses` holds the loss at
 * the starting point, then after each iteration whose loss is known.
 *
 * Differences from BigDL's LBFGS, all following PyTorch: the optimality test is max|g| <= tolFun
 * (BigDL: sum|g| <= tolFun, default 1e-5), the step-size test is max|t*d| <= tolX (BigDL:
 * sum|t*d| < tolX), maxEval defaults to floor(maxIter * 1.25) and the first-iteration step is
 * min(1, 1/sum|g|) * learningRate in both. Scalars (dot products, step sizes) are in float64, so
 * results agree with PyTorch's float32 scalars to rounding.
 *
 * LBFGS is not elementwise: its dot products span the whole vector, so it cannot be split into
 * slices with one instance each; the engine must give it the whole parameter vector. `step()`
 * (one gradient per update) works only with maxIter 1 and no line search, where one PyTorch
 * LBFGS iteration evaluates the function once.
 */
export class LBFGS extends OptimMethod {
  readonly name = 'LBFGS';
  readonly maxIter: number;
  readonly maxEval: number;
  readonly tolFun: number;
  readonly tolX: number;
  readonly nCorrection: number;
  readonly lineSearch: 'strongWolfe' | undefined;
  private readonly opts: LBFGSOptions;
  // history (PyTorch's old_dirs = y, old_stps = s, ro = 1 / y.s), oldest first
  private histY: Tensor[] = [];
  private histS: Tensor[] = [];
  private ro: number[] = [];
  private al: Float64Array;
  private t = 0;
  private hDiag = 1;
  private prevLoss = 0;
  private iterations = 0;
  private evaluations = 0;
  private lsPool: Tensor[] = [];

  constructor(opts: LBFGSOptions = {}) {
    super('LBFGS', opts, 1);
    this.opts = { ...opts };
    const int = (name: string, v: number, min: number): number => {
      if (!Number.isInteger(v) || v < min) throw new RangeError(`LBFGS: ${name} must be an integer >= ${min}, got ${String(v)}`);
      return v;
    };
    this.maxIter = int('maxIter', opts.maxIter ?? 20, 1);
    this.maxEval = int('maxEval', opts.maxEval ?? Math.floor(this.maxIter * 5 / 4), 1);
    this.tolFun = checkHyper('LBFGS', 'tolFun', opts.tolFun ?? 1e-7, 0);
    this.tolX = checkHyper('LBFGS', 'tolX', opts.tolX ?? 1e-9, 0);
    this.nCorrection = int('nCorrection', opts.nCorrection ?? 100, 1);
    if (opts.lineSearch !== undefined && opts.lineSearch !== 'strongWolfe') {
      throw new RangeError(`LBFGS: lineSearch must be 'strongWolfe' or undefined, got '${String(opts.lineSearch)}'`);
    }
    this.lineSearch = opts.lineSearch;
    this.al = new Float64Array(this.nCorrection);
  }

  /** Iterations over all calls (PyTorch's state['n_iter']). */
  get nIter(): number {
    return this.iterations;
  }

  /** Function evaluations over all calls (PyTorch's state['func_evals']). */
  get funcEvals(): number {
    return this.evaluations;
  }

  /** One update from one gradient: only for maxIter 1 without line search (see the class comment). */
  override step(weights: Tensor, gradients: Tensor, loss?: number): void {
    if (this.maxIter !== 1 || this.lineSearch) {
      throw new RangeError(`LBFGS.step: with maxIter ${this.maxIter}${this.lineSearch ? ' and a line search' : ''} LBFGS evaluates the function several times per update; call optimize(feval, weights), or use maxIter: 1 and no lineSearch to drive it one gradient at a time`);
    }
    this.checkSlice('LBFGS.step', weights, gradients);
    let used = false;
    this.optimize(() => {
      if (used) throw new Error('LBFGS.step: internal error: a second evaluation was requested');
      used = true;
      return { loss: loss ?? NaN, gradient: gradients };
    }, weights);
  }

  override optimize(feval: Feval, weights: Tensor): { weights: Tensor; losses: number[] } {
    if (typeof feval !== 'function') throw new TypeError(`LBFGS.optimize: feval must be a function, got ${typeof feval}`);
    const n = this.checkSlice('LBFGS.optimize', weights);
    const g = this.scratch('flatGrad', n);
    const evaluate = (into: Tensor): number => {
      const r = feval(weights);
      const gr = r?.gradient;
      if (!(gr instanceof Tensor) || gr.dtype !== 'float32' || gr.numel !== n) {
        throw new TypeError(`LBFGS.optimize: feval must return { loss, gradient } with a float32 gradient of ${n} elements, got ${gr instanceof Tensor ? `${gr.dtype} ${shapeStr(gr.shape)}` : String(gr)}`);
      }
      if (typeof r.loss !== 'number') throw new TypeError(`LBFGS.optimize: feval returned a loss of type ${typeof r.loss}`);
      into.copy_(gr.ndim === 1 ? gr : gr.reshape(n));
      return r.loss;
    };

    let loss = evaluate(g);
    requireFinite('LBFGS.optimize', 'gradient at the starting point', g);
    const lr = this.nextLearningRate();
    this.state.neval += 1;
    const losses = [loss];
    let currentEvals = 1;
    this.evaluations += 1;
    if (absMax(g) <= this.tolFun) return { weights, losses };

    const d = this.buffer('d', n);
    const prevG = this.buffer('prevFlatGrad', n);
    let nIter = 0;
    while (nIter < this.maxIter) {
      nIter += 1;
      this.iterations += 1;
      // ---- direction
      if (this.iterations === 1) {
        neg(g, d);
        this.histY = [];
        this.histS = [];
        this.ro = [];
        this.hDiag = 1;
      } else {
        const y = sub(g, prevG, 1, this.scratch('yNew', n));
        const s = mul(d, f32(this.t), this.scratch('sNew', n));
        const ys = dot(y, s);
        if (ys > 1e-10) this.remember(y, s, ys, dot(y, y), n);
        const k = this.histY.length;
        const q = neg(g, this.scratch('q', n));
        for (let i = k - 1; i >= 0; i--) {
          this.al[i] = dot(this.histS[i], q) * this.ro[i];
          add(q, this.histY[i], f32(-this.al[i]), q);
        }
        mul(q, f32(this.hDiag), d);
        for (let i = 0; i < k; i++) {
          const be = dot(this.histY[i], d) * this.ro[i];
          add(d, this.histS[i], f32(this.al[i] - be), d);
        }
      }
      prevG.copy_(g);
      this.prevLoss = loss;
      // ---- step length
      this.t = this.iterations === 1 ? Math.min(1, 1 / absSum(g)) * lr : lr;
      const gtd = dot(g, d);
      if (gtd > -this.tolX) break;
      let lsEvals = 0;
      let optCond = false;
      if (this.lineSearch) {
        const x0 = this.scratch('xInit', n);
        x0.copy_(weights);
        const obj = (t: number, into: Tensor): number => {
          add(x0, d, f32(t), weights);
          try {
            return evaluate(into);
          } finally {
            weights.copy_(x0);
          }
        };
        const r = this.strongWolfe(obj, this.t, d, loss, g, gtd, n);
        loss = r.f;
        if (r.g !== g) g.copy_(r.g);
        this.t = r.t;
        lsEvals = r.evals;
        add(weights, d, f32(this.t), weights);
        losses.push(loss);
        optCond = absMax(g) <= this.tolFun;
      } else {
        add(weights, d, f32(this.t), weights);
        if (nIter !== this.maxIter) {
          loss = evaluate(g);
          losses.push(loss);
          optCond = absMax(g) <= this.tolFun;
          lsEvals = 1;
        }
      }
      currentEvals += lsEvals;
      this.evaluations += lsEvals;
      // ---- stopping conditions
      if (nIter === this.maxIter) break;
      if (currentEvals >= this.maxEval) break;
      if (optCond) break;
      if (absMax(d) * Math.abs(this.t) <= this.tolX) break;
      if (Math.abs(loss - this.prevLoss) < this.tolX) break;
    }
    return { weights, losses };
  }

  /** Appends (y, s) to the history, recycling the oldest pair's buffers once it is full. */
  private remember(y: Tensor, s: Tensor, ys: number, yy: number, n: number): void {
    let yBuf: Tensor, sBuf: Tensor;
    if (this.histY.length === this.nCorrection) {
      yBuf = this.histY.shift()!;
      sBuf = this.histS.shift()!;
      this.ro.shift();
    } else {
      yBuf = Tensor.empty([n]);
      sBuf = Tensor.empty([n]);
    }
    yBuf.copy_(y);
    sBuf.copy_(s);
    this.histY.push(yBuf);
    this.histS.push(sBuf);
    this.ro.push(1 / ys);
    this.hDiag = ys / yy;
  }

  /** A line-search gradient buffer not among `live`. */
  private lsBuffer(n: number, live: readonly Tensor[]): Tensor {
    for (const b of this.lsPool) if (!live.includes(b)) return b;
    const b = Tensor.empty([n]);
    this.lsPool.push(b);
    return b;
  }

  /**
   * PyTorch's _strong_wolfe (from Torch7's lswolfe.lua): finds t satisfying the strong Wolfe
   * conditions along d from the point with loss f, gradient g, directional derivative gtd.
   */
  private strongWolfe(obj: (t: number, into: Tensor) => number, t: number, d: Tensor, f: number, g: Tensor,
    gtd: number, n: number): { f: number; g: Tensor; t: number; evals: number } {
    const c1 = 1e-4, c2 = 0.9, maxLs = 25, tolChange = this.tolX;
    const dNorm = absMax(d);
    let gNew = this.lsBuffer(n, [g]);
    let fNew = obj(t, gNew);
    let evals = 1;
    let gtdNew = dot(gNew, d);
    let tPrev = 0, fPrev = f, gPrev = g, gtdPrev = gtd;
    let done = false;
    let lsIter = 0;
    let bracket: number[] = [], bracketF: number[] = [], bracketG: Tensor[] = [], bracketGtd: number[] = [];
    while (lsIter < maxLs) {
      if (fNew > f + c1 * t * gtd || (lsIter > 1 && fNew >= fPrev)) {
        bracket = [tPrev, t]; bracketF = [fPrev, fNew]; bracketG = [gPrev, gNew]; bracketGtd = [gtdPrev, gtdNew];
        break;
      }
      if (Math.abs(gtdNew) <= -c2 * gtd) {
        bracket = [t]; bracketF = [fNew]; bracketG = [gNew];
        done = true;
        break;
      }
      if (gtdNew >= 0) {
        bracket = [tPrev, t]; bracketF = [fPrev, fNew]; bracketG = [gPrev, gNew]; bracketGtd = [gtdPrev, gtdNew];
        break;
      }
      const minStep = t + 0.01 * (t - tPrev);
      const maxStep = t * 10;
      const tmp = t;
      t = cubicInterpolate(tPrev, fPrev, gtdPrev, t, fNew, gtdNew, minStep, maxStep);
      tPrev = tmp;
      fPrev = fNew;
      gPrev = gNew;
      gtdPrev = gtdNew;
      gNew = this.lsBuffer(n, [g, gPrev]);
      fNew = obj(t, gNew);
      evals += 1;
      gtdNew = dot(gNew, d);
      lsIter += 1;
    }
    if (lsIter === maxLs) {
      bracket = [0, t]; bracketF = [f, fNew]; bracketG = [g, gNew]; bracketGtd = [gtd, gtdNew];
    }

    // zoom: refine the bracket until a point satisfies the conditions
    let insufProgress = false;
    let low = bracketF[0] <= bracketF[bracketF.length - 1] ? 0 : 1;
    let high = 1 - low;
    while (!done && lsIter < maxLs) {
      if (Math.abs(bracket[1] - bracket[0]) * dNorm < tolChange) break;
      t = cubicInterpolate(bracket[0], bracketF[0], bracketGtd[0], bracket[1], bracketF[1], bracketGtd[1]);
      const bMax = Math.max(bracket[0], bracket[1]), bMin = Math.min(bracket[0], bracket[1]);
      const eps = 0.1 * (bMax - bMin);
      if (Math.min(bMax - t, t - bMin) < eps) {
        if (insufProgress || t >= bMax || t <= bMin) {
          t = Math.abs(t - bMax) < Math.abs(t - bMin) ? bMax - eps : bMin + eps;
          insufProgress = false;
        } else {
          insufProgress = true;
        }
      } else {
        insufProgress = false;
      }
      gNew = this.lsBuffer(n, [g, bracketG[0], bracketG[1]]);
      fNew = obj(t, gNew);
      evals += 1;
      gtdNew = dot(gNew, d);
      lsIter += 1;
      if (fNew > f + c1 * t * gtd || fNew >= bracketF[low]) {
        bracket[high] = t; bracketF[high] = fNew; bracketG[high] = gNew; bracketGtd[high] = gtdNew;
        low = bracketF[0] <= bracketF[1] ? 0 : 1;
        high = 1 - low;
      } else {
        if (Math.abs(gtdNew) <= -c2 * gtd) {
          done = true;
        } else if (gtdNew * (bracket[high] - bracket[low]) >= 0) {
          bracket[high] = bracket[low]; bracketF[high] = bracketF[low]; bracketG[high] = bracketG[low]; bracketGtd[high] = bracketGtd[low];
        }
        bracket[low] = t; bracketF[low] = fNew; bracketG[low] = gNew; bracketGtd[low] = gtdNew;
      }
    }
    return { f: bracketF[low], g: bracketG[low], t: bracket[low], evals };
  }

  protected update(): void {
    throw new Error('LBFGS: updates run through optimize()');
  }

  protected override saveExtra(): SavedState {
    const copy = (t: Tensor): Float32Array => (t.data as Float32Array).slice(t.offset, t.offset + t.numel);
    return {
      t: this.t, hDiag: this.hDiag, prevLoss: this.prevLoss, nIter: this.iterations, funcEvals: this.evaluations,
      ro: this.ro.slice(), histY: this.histY.map(copy), histS: this.histS.map(copy),
    };
  }

  protected override loadExtra(e: SavedState, length: number): void {
    const num = (k: string): number => {
      const v = e[k];
      if (typeof v !== 'number') throw new TypeError(`LBFGS.loadState: field 'extra.${k}' must be a number, got ${String(v)}`);
      return v;
    };
    const vecs = (k: string): Float32Array[] => {
      const v = e[k];
      if (!Array.isArray(v) || v.length > this.nCorrection || !v.every((a: StateValue) => a instanceof Float32Array && a.length === length)) {
        throw new TypeError(`LBFGS.loadState: field 'extra.${k}' must be an array of at most nCorrection (${this.nCorrection}) Float32Arrays of length ${length}`);
      }
      return v as Float32Array[];
    };
    const ro = e.ro;
    const ys = vecs('histY'), ss = vecs('histS');
    if (!Array.isArray(ro) || ro.length !== ys.length || ss.length !== ys.length || !ro.every((x) => typeof x === 'number')) {
      throw new TypeError('LBFGS.loadState: fields extra.ro, extra.histY and extra.histS must have one entry per history pair');
    }
    const t = num('t'), hDiag = num('hDiag'), prevLoss = num('prevLoss'), nIter = num('nIter'), funcEvals = num('funcEvals');
    const toTensor = (a: Float32Array): Tensor => Tensor.from(a.slice(), [length]);
    this.histY = ys.map(toTensor);
    this.histS = ss.map(toTensor);
    this.ro = (ro as number[]).slice();
    this.t = t;
    this.hDiag = hDiag;
    this.prevLoss = prevLoss;
    this.iterations = nIter;
    this.evaluations = funcEvals;
  }

  protected create(): LBFGS {
    return new LBFGS(this.cloneOptions(this.opts));
  }
}

/** Scalars that scale float32 vectors are rounded to float32 first, as PyTorch (and the native backend) do. */
const f32 = Math.fround;

/** Dot product of two contiguous 1-d tensors, accumulated in float64. */
function dot(a: Tensor, b: Tensor): number {
  const x = a.data, y = b.data, n = a.numel;
  let s = 0;
  for (let i = 0, ia = a.offset, ib = b.offset; i < n; i++, ia++, ib++) s += x[ia] * y[ib];
  return s;
}

function absMax(a: Tensor): number {
  const x = a.data;
  let m = 0;
  for (let i = a.offset, e = a.offset + a.numel; i < e; i++) {
    const v = Math.abs(x[i]);
    if (v > m || Number.isNaN(v)) m = v;
  }
  return m;
}

function absSum(a: Tensor): number {
  const x = a.data;
  let s = 0;
  for (let i = a.offset, e = a.offset + a.numel; i < e; i++) s += Math.abs(x[i]);
  return s;
}

/**
 * Minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to [lo, hi] (default: the
 * interval between the points); the midpoint when the cubic has no real minimiser. PyTorch's
 * _cubic_interpolate.
 */
function cubicInterpolate(x1: number, f1: number, g1: number, x2: number, f2: number, g2: number,
  lo = Math.min(x1, x2), hi = Math.max(x1, x2)): number {
  const d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
  const d2sq = d1 * d1 - g1 * g2;
  if (d2sq >= 0) {
    const d2 = Math.sqrt(d2sq);
    const minPos = x1 <= x2
      ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
      : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    return Math.min(Math.max(minPos, lo), hi);
  }
  return (lo + hi) / 2;
}
