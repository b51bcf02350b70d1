/**
 * The kernel interface every backend implements.
 *
 * Kernels work on raw typed arrays plus offsets, shapes and strides: they know nothing about
 * Tensor objects, validation or allocation. The tensor layer (src/tensor) validates inputs,
 * allocates outputs and then calls exactly one kernel. `reference` (plain TypeScript) is the
 * specification; `native` (OpenBLAS + oneDNN through N-API) must agree with it.
 *
 * Conventions:
 * - All float data is float32, all indices int32.
 * - "strided" kernels take the output shape plus one strides array per operand; a stride of 0
 *   broadcasts. Strides are in elements, not bytes.
 * - "outer/n/inner" kernels see a contiguous tensor as [outer, n, inner] and work along n.
 * - Kernels write into the buffers they are given; they never allocate tensors.
 * - Convolution, pooling, LRN and batch norm use contiguous NCHW (weights OIHW, grouped weights
 *   [groups*O/groups, C/groups, KH, KW]) regardless of what the backend uses internally.
 */

export type F32 = Float32Array;
export type I32 = Int32Array;
export type Shape = readonly number[];

/** Unary elementwise ops. `a`, `b` are per-op scalars (documented per entry). Codes are shared with native/src/ops.h. */
export enum UnaryOp {
  Neg = 0,
  Abs = 1,
  Exp = 2,
  Log = 3,
  Sqrt = 4,
  Square = 5,
  Tanh = 6,
  Sigmoid = 7,
  Relu = 8,
  Reciprocal = 9,
  Sign = 10,
  /** a*x + b */
  Affine = 11,
  /** x^a */
  Pow = 12,
  /** min(max(x, a), b) */
  Clamp = 13,
  /** x > 0 ? x : a*x */
  LeakyRelu = 14,
  /** x > 0 ? x : a*(exp(x)-1) */
  Elu = 15,
  /** log(1+exp(a*x))/a, linear (x) where a*x > b */
  SoftPlus = 16,
  /** x > a ? x : b */
  Threshold = 17,
  /** a (ignores x) */
  Fill = 18,
  Log1p = 19,
  Rsqrt = 20,
}

/** Binary elementwise ops: out = f(x, y) with scalar a. Codes are shared with native/src/ops.h. */
export enum BinaryOp {
  /** x + a*y */
  Add = 0,
  /** x - a*y */
  Sub = 1,
  Mul = 2,
  Div = 3,
  Max = 4,
  Min = 5,
  Pow = 6,
  /** 1 where x == y else 0 */
  Eq = 7,
  /** 1 where x > y else 0 */
  Gt = 8,
  /** 1 where x < y else 0 */
  Lt = 9,
  /** gradient of tanh: y * (1 - x^2) where x is the tanh output and y the output gradient */
  TanhBackward = 10,
  /** gradient of sigmoid: y * x * (1 - x) where x is the sigmoid output */
  SigmoidBackward = 11,
  /** gradient of threshold at a: x > a ? y : 0 where x is the input (ReLU: a = 0) */
  ThresholdBackward = 12,
  /** x * a + y: a fused scale-and-add (out = a*x + y) */
  Axpby = 13,
}

export enum ReduceOp {
  Sum = 0,
  Mean = 1,
  Max = 2,
  Min = 3,
  /** sum of squares */
  SumSquares = 4,
  Prod = 5,
}

/** Convolution geometry. Padding is symmetric per spatial dimension (top/bottom, left/right). */
export interface ConvParams {
  n: number; c: number; h: number; w: number;
  /** output channels */
  oc: number;
  kh: number; kw: number;
  strideH: number; strideW: number;
  padH: number; padW: number;
  /** dilation, 1 = dense */
  dilationH: number; dilationW: number;
  groups: number;
  /** output spatial size; the tensor layer computes it */
  oh: number; ow: number;
}

export enum PoolKind {
  Max = 0,
  /** average counting padded cells (Torch's count_include_pad = true) */
  AvgIncludePad = 1,
  /** average over the cells inside the input only */
  AvgExcludePad = 2,
}

/**
 * Pooling geometry. padBottom/padRight may exceed padTop/padLeft: the tensor layer uses them to
 * express ceil mode. Windows that start entirely in the right/bottom padding never occur.
 */
export interface PoolParams {
  kind: PoolKind;
  n: number; c: number; h: number; w: number;
  kh: number; kw: number;
  strideH: number; strideW: number;
  padTop: number; padLeft: number; padBottom: number; padRight: number;
  oh: number; ow: number;
}

/** Cross-channel LRN as in Caffe/Torch/PyTorch: y = x / (k + alpha/size * sum_{window} x^2)^beta. */
export interface LrnParams {
  n: number; c: number; h: number; w: number;
  size: number; alpha: number; beta: number; k: number;
}

/** Batch norm over N and spatial dims of an NCHW tensor (use h = w = 1 for [N, C] input). */
export interface BatchNormParams {
  n: number; c: number; h: number; w: number;
  eps: number;
}

/** Kernels every backend provides on plain buffers. */
export interface CoreKernels {
  /** out[i] = f(x[i]) over `shape`; strides may be 0 for broadcasting. */
  unary(op: UnaryOp, shape: Shape, x: F32, xOff: number, xStrides: Shape,
    out: F32, outOff: number, outStrides: Shape, a: number, b: number): void;
  /** out[i] = f(x[i], y[i]) over `shape`. */
  binary(op: BinaryOp, shape: Shape, x: F32, xOff: number, xStrides: Shape,
    y: F32, yOff: number, yStrides: Shape, out: F32, outOff: number, outStrides: Shape, a: number): void;
  /** Strided copy; src and dst may differ in dtype (float <-> int32 converts, truncating toward zero). */
  copy(shape: Shape, src: F32 | I32, srcOff: number, srcStrides: Shape,
    dst: F32 | I32, dstOff: number, dstStrides: Shape): void;
  /**
   * Reduce a contiguous [outer, n, inner] block along n into out[outer*inner].
   * For Max/Min, `indices` (if given) receives the position along n of the first extreme.
   */
  reduce(op: ReduceOp, outer: number, n: number, inner: number, x: F32, xOff: number,
    out: F32, outOff: number, indices: I32 | null, indicesOff: number): void;
  /** Softmax (or log-softmax) of contiguous [outer, n, inner] along n. */
  softmax(log: boolean, outer: number, n: number, inner: number, x: F32, xOff: number, out: F32, outOff: number): void;
  /**
   * Gradient of softmax given its output y and output gradient gy:
   * softmax: gx = y * (gy - sum(gy*y)); log-softmax: gx = gy - exp(y) * sum(gy).
   */
  softmaxBackward(log: boolean, outer: number, n: number, inner: number, y: F32, yOff: number,
    gy: F32, gyOff: number, gx: F32, gxOff: number): void;
  /**
   * C = alpha * op(A) @ op(B) + beta * C, row-major. op(A) is m x k, op(B) is k x n.
   * lda/ldb/ldc are row strides of the stored (untransposed) matrices.
   */
  gemm(transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: F32, aOff: number, lda: number, b: F32, bOff: number, ldb: number,
    beta: number, c: F32, cOff: number, ldc: number): void;
  /** `batch` independent gemms; matrix i starts at off + i*stride for each operand. */
  gemmBatched(batch: number, transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: F32, aOff: number, strideA: number, lda: number, b: F32, bOff: number, strideB: number, ldb: number,
    beta: number, c: F32, cOff: number, strideC: number, ldc: number): void;
  /**
   * out[o, j, i] = x[o, idx[o, j, i], i] for x contiguous [outer, nIn, inner], idx/out [outer, nIdx, inner].
   * Returns -1, or the flat position in idx of the first index outside [0, nIn) (nothing written then).
   */
  gather(outer: number, nIn: number, inner: number, nIdx: number, x: F32, xOff: number,
    idx: I32, idxOff: number, out: F32, outOff: number): number;
  /** out[o, idx[o, j, i], i] += src[o, j, i]; same shapes and error contract as gather. */
  scatterAdd(outer: number, nOut: number, inner: number, nIdx: number, src: F32, srcOff: number,
    idx: I32, idxOff: number, out: F32, outOff: number): number;
  /**
   * Embedding lookup: out[j, :] = table[idx[j], :] for `count` indices into a [rows, width] table.
   * Returns -1 or the position of the first out-of-range index.
   */
  indexSelect(rows: number, width: number, table: F32, tableOff: number, idx: I32, idxOff: number, count: number,
    out: F32, outOff: number): number;
  /** Embedding gradient: table[idx[j], :] += alpha * src[j, :]. Same error contract as indexSelect. */
  indexAdd(rows: number, width: number, table: F32, tableOff: number, idx: I32, idxOff: number, count: number,
    src: F32, srcOff: number, alpha: number): number;
  /** true when x[off .. off+n) has no NaN or infinity */
  allFinite(x: F32, off: number, n: number): boolean;
  /**
   * One fused SGD update of n contiguous weights w from gradients g (g is not modified), in
   * float32, per element:
   *   d = g + weightDecay*w
   *   with momentum != 0: b = first ? d : momentum*b + (1 - dampening)*d (stored in buf);
   *                       d = nesterov ? d + momentum*b : b
   *   w = w - lr*d
   * `buf` may be null when momentum is 0.
   */
  sgdUpdate(n: number, w: F32, wOff: number, g: F32, gOff: number, buf: F32 | null, bufOff: number,
    lr: number, weightDecay: number, momentum: number, dampening: number, nesterov: boolean, first: boolean): void;
  /**
   * One LSTM time step's gate arithmetic over B rows (each operand: array, offset, row stride;
   * elements contiguous within a row). G holds the pre-activations [i | f | g | o] (n each) and
   * becomes the activations i,f,o = σ, g = tanh; then c = f∘cp + i∘g, tc = tanh(c), h = o∘tc.
   */
  lstmGatesForward(B: number, n: number, G: F32, gOff: number, gRow: number, cp: F32, cpOff: number, cpRow: number,
    c: F32, cOff: number, cRow: number, tc: F32, tcOff: number, tcRow: number, h: F32, hOff: number, hRow: number): void;
  /**
   * Its backward from the activated gates G, tc, cp, dh and dc (updated in place:
   * dc += dh∘o∘(1 - tc²)): dG = [dc∘g∘i(1-i) | dc∘cp∘f(1-f) | dc∘i∘(1-g²) | dh∘tc∘o(1-o)], dcp = dc∘f.
   */
  lstmGatesBackward(B: number, n: number, G: F32, gOff: number, gRow: number, tc: F32, tcOff: number, tcRow: number,
    cp: F32, cpOff: number, cpRow: number, dh: F32, dhOff: number, dhRow: number, dc: F32, dcOff: number, dcRow: number,
    dG: F32, dgOff: number, dgRow: number, dcp: F32, dcpOff: number, dcpRow: number): void;
  /** Threads for this backend's own pools (OpenBLAS and oneDNN share one OpenMP pool). */
  setThreads(n: number): void;
  getThreads(): number;
}

/** Deep-learning kernels on contiguous NCHW float32 data. */
export interface DnnKernels {
  /** y = conv(x, w) + b; b may be null. */
  conv2dForward(p: ConvParams, x: F32, xOff: number, w: F32, wOff: number, b: F32 | null, bOff: number, y: F32, yOff: number): void;
  /** gx = gradient w.r.t. the input (overwritten). */
  conv2dBackwardData(p: ConvParams, gy: F32, gyOff: number, w: F32, wOff: number, gx: F32, gxOff: number): void;
  /** gw (and gb if not null) = gradient w.r.t. weights and bias (overwritten, not accumulated). */
  conv2dBackwardWeights(p: ConvParams, x: F32, xOff: number, gy: F32, gyOff: number,
    gw: F32, gwOff: number, gb: F32 | null, gbOff: number): void;
  /** Bytes of workspace a pooling forward must keep for its backward (0 for average pooling). */
  pool2dWorkspaceBytes(p: PoolParams): number;
  pool2dForward(p: PoolParams, x: F32, xOff: number, y: F32, yOff: number, workspace: Uint8Array | null): void;
  /** gx (overwritten) from gy; max pooling needs the workspace its forward filled. */
  pool2dBackward(p: PoolParams, gy: F32, gyOff: number, gx: F32, gxOff: number, workspace: Uint8Array | null): void;
  lrnWorkspaceBytes(p: LrnParams): number;
  lrnForward(p: LrnParams, x: F32, xOff: number, y: F32, yOff: number, workspace: Uint8Array | null): void;
  lrnBackward(p: LrnParams, x: F32, xOff: number, gy: F32, gyOff: number, gx: F32, gxOff: number, workspace: Uint8Array | null): void;
  /**
   * training: computes the batch mean and biased variance into mean/variance, then normalises with them.
   * inference: normalises with the given mean/variance.
   * y = scale * (x - mean) / sqrt(variance + eps) + shift, per channel.
   */
  batchNormForward(p: BatchNormParams, training: boolean, x: F32, xOff: number, y: F32, yOff: number,
    scale: F32, scaleOff: number, shift: F32, shiftOff: number, mean: F32, meanOff: number,
    variance: F32, varianceOff: number): void;
  /** Gradients (overwritten) for a training-mode forward that produced mean/variance. */
  batchNormBackward(p: BatchNormParams, x: F32, xOff: number, gy: F32, gyOff: number,
    scale: F32, scaleOff: number, mean: F32, meanOff: number, variance: F32, varianceOff: number,
    gx: F32, gxOff: number, gScale: F32, gScaleOff: number, gShift: F32, gShiftOff: number): void;
}

export interface Backend extends CoreKernels, DnnKernels {
  readonly name: BackendName;
}

export type BackendName = 'native' | 'reference';
