// Fused elementwise, reduction, softmax and gather/scatter loops. Semantics are defined by
// src/backend/reference/core.ts; this file only makes them fast (vector math from glibc's
// libmvec, OpenMP over large contiguous ranges). Every kernel checks that it stays inside the
// typed arrays it was given, so a bad offset from a caller is an exception, never a crash.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>
#include <cstdint>
#include <cstring>
#include <limits>

#include "napi_util.h"

extern "C" {
// glibc's vector math (libmvec), AVX2 variants: 8 floats per call, <= 4 ulp.
__m256 _ZGVdN8v_expf(__m256);
__m256 _ZGVdN8v_logf(__m256);
__m256 _ZGVdN8v_tanhf(__m256);
__m256 _ZGVdN8v_log1pf(__m256);
}

namespace bigdl {
namespace {

constexpr int kMaxDims = 16;
constexpr int64_t kParallelGrain = 1 << 15;

enum Unary { Neg, Abs, Exp, Log, Sqrt, Square, Tanh, Sigmoid, Relu, Reciprocal, Sign, Affine, Pow, Clamp,
             LeakyRelu, Elu, SoftPlus, Threshold, Fill, Log1p, Rsqrt };
enum Binary { Add, Sub, Mul, Div, Max, Min, PowB, Eq, Gt, Lt, TanhBackward, SigmoidBackward, ThresholdBackward, Axpby };
enum Reduce { RSum, RMean, RMax, RMin, RSumSquares, RProd };

// Geometry packed by src/backend/native/core.ts: [ndim, shape..., strides of operand 0..k-1].
struct Geo {
  int nd = 0;
  int64_t shape[kMaxDims];
  int64_t strides[3][kMaxDims];
  int64_t numel = 1;
  bool parse(const int32_t* g, size_t len, int operands) {
    if (len < 1) return false;
    nd = g[0];
    if (nd < 0 || nd > kMaxDims || len < size_t(1 + nd * (1 + operands))) return false;
    numel = 1;
    for (int d = 0; d < nd; d++) {
      shape[d] = g[1 + d];
      numel *= shape[d];
      for (int k = 0; k < operands; k++) strides[k][d] = g[1 + nd * (1 + k) + d];
    }
    return true;
  }
  // True when every element addressed from `off` with strides[k] lies inside [0, len).
  bool inBounds(int k, int64_t off, size_t len) const {
    if (numel == 0) return true;
    int64_t lo = off, hi = off;
    for (int d = 0; d < nd; d++) {
      int64_t span = (shape[d] - 1) * strides[k][d];
      if (span < 0) lo += span; else hi += span;
    }
    return lo >= 0 && hi < int64_t(len);
  }
};

inline float sigmoidScalar(float x) { return 1.0f / (1.0f + std::exp(-x)); }

inline float unaryScalar(int op, float x, float a, float b) {
  switch (op) {
    case Neg: return -x;
    case Abs: return std::fabs(x);
    case Exp: return std::exp(x);
    case Log: return std::log(x);
    case Sqrt: return std::sqrt(x);
    case Square: return x * x;
    case Tanh: return std::tanh(x);
    case Sigmoid: return sigmoidScalar(x);
    case Relu: return x > 0.0f ? x : 0.0f;
    case Reciprocal: return 1.0f / x;
    case Sign: return float((x > 0.0f) - (x < 0.0f));
    case Affine: return a * x + b;
    case Pow: return std::pow(x, a);
    case Clamp: return x < a ? a : (x > b ? b : x);
    case LeakyRelu: return x > 0.0f ? x : a * x;
    case Elu: return x > 0.0f ? x : a * (std::exp(x) - 1.0f);
    case SoftPlus: return a * x > b ? x : std::log1p(std::exp(a * x)) / a;
    case Threshold: return x > a ? x : b;
    case Fill: return a;
    case Log1p: return std::log1p(x);
    case Rsqrt: return 1.0f / std::sqrt(x);
  }
  return x;
}

// Contiguous runs: the transcendental ops go 8 lanes at a time through libmvec, the rest are
// written so the compiler vectorises them.
template <class F>
inline void runLoop(int64_t n, const float* x, float* y, F f) {
  for (int64_t i = 0; i < n; i++) y[i] = f(x[i]);
}

void unaryContiguous(int op, int64_t n, const float* x, float* y, float a, float b) {
  int64_t i = 0;
  switch (op) {
    case Exp: case Log: case Tanh: case Sigmoid: case Log1p: {
      const __m256 one = _mm256_set1_ps(1.0f);
      for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 r;
        if (op == Exp) r = _ZGVdN8v_expf(v);
        else if (op == Log) r = _ZGVdN8v_logf(v);
        else if (op == Tanh) r = _ZGVdN8v_tanhf(v);
        else if (op == Log1p) r = _ZGVdN8v_log1pf(v);
        else r = _mm256_div_ps(one, _mm256_add_ps(one, _ZGVdN8v_expf(_mm256_sub_ps(_mm256_setzero_ps(), v))));
        _mm256_storeu_ps(y + i, r);
      }
      for (; i < n; i++) y[i] = unaryScalar(op, x[i], a, b);
      return;
    }
    case Neg: return runLoop(n, x, y, [](float v) { return -v; });
    case Abs: return runLoop(n, x, y, [](float v) { return std::fabs(v); });
    case Sqrt: return runLoop(n, x, y, [](float v) { return std::sqrt(v); });
    case Square: return runLoop(n, x, y, [](float v) { return v * v; });
    case Relu: return runLoop(n, x, y, [](float v) { return v > 0.0f ? v : 0.0f; });
    case Reciprocal: return runLoop(n, x, y, [](float v) { return 1.0f / v; });
    case Affine: return runLoop(n, x, y, [a, b](float v) { return a * v + b; });
    case Clamp: return runLoop(n, x, y, [a, b](float v) { return v < a ? a : (v > b ? b : v); });
    case LeakyRelu: return runLoop(n, x, y, [a](float v) { return v > 0.0f ? v : a * v; });
    case Threshold: return runLoop(n, x, y, [a, b](float v) { return v > a ? v : b; });
    case Fill: for (int64_t j = 0; j < n; j++) y[j] = a; return;
    default: for (; i < n; i++) y[i] = unaryScalar(op, x[i], a, b);
  }
}

inline float binaryScalar(int op, float x, float y, float a) {
  switch (op) {
    case Add: return x + a * y;
    case Sub: return x - a * y;
    case Mul: return x * y;
    case Div: return x / y;
    case Max: return x > y ? x : y;
    case Min: return x < y ? x : y;
    case PowB: return std::pow(x, y);
    case Eq: return x == y ? 1.0f : 0.0f;
    case Gt: return x > y ? 1.0f : 0.0f;
    case Lt: return x < y ? 1.0f : 0.0f;
    case TanhBackward: return y * (1.0f - x * x);
    case SigmoidBackward: return y * x * (1.0f - x);
    case ThresholdBackward: return x > a ? y : 0.0f;
    case Axpby: return a * x + y;
  }
  return 0.0f;
}

// Inner loop with strides sx, sy (0 or 1 in the fast cases) and a unit output stride.
template <int OP>
inline void binaryRun(int64_t n, const float* x, int64_t sx, const float* y, int64_t sy, float* o, float a) {
  for (int64_t i = 0; i < n; i++) o[i] = binaryScalar(OP, x[i * sx], y[i * sy], a);
}

template <int OP>
void binaryInner(int64_t n, const float* x, int64_t sx, const float* y, int64_t sy, float* o, int64_t so, float a) {
  if (so == 1) {
    if (sx == 1 && sy == 1) return binaryRun<OP>(n, x, 1, y, 1, o, a);
    if (sx == 1 && sy == 0) return binaryRun<OP>(n, x, 1, y, 0, o, a);
    if (sx == 0 && sy == 1) return binaryRun<OP>(n, x, 0, y, 1, o, a);
  }
  for (int64_t i = 0; i < n; i++) o[i * so] = binaryScalar(OP, x[i * sx], y[i * sy], a);
}

using BinaryInnerFn = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t, float);
const BinaryInnerFn kBinaryInner[] = {
    binaryInner<Add>, binaryInner<Sub>, binaryInner<Mul>, binaryInner<Div>, binaryInner<Max>,
    binaryInner<Min>, binaryInner<PowB>, binaryInner<Eq>, binaryInner<Gt>, binaryInner<Lt>,
    binaryInner<TanhBackward>, binaryInner<SigmoidBackward>, binaryInner<ThresholdBackward>, binaryInner<Axpby>};
constexpr int kBinaryOps = sizeof(kBinaryInner) / sizeof(kBinaryInner[0]);

// Walks all but the innermost dimension of `g` over the rows [rowBegin, rowEnd) and calls
// inner(row offsets..., n) for each innermost run.
template <int K, class F>
void forEachRow(const Geo& g, int64_t rowBegin, int64_t rowEnd, const int64_t* base, F inner) {
  const int nd = g.nd;
  int64_t idx[kMaxDims] = {0};
  int64_t rem = rowBegin;
  for (int d = nd - 2; d >= 0; d--) {
    idx[d] = rem % g.shape[d];
    rem /= g.shape[d];
  }
  int64_t off[K];
  for (int k = 0; k < K; k++) {
    off[k] = base[k];
    for (int d = 0; d < nd - 1; d++) off[k] += idx[d] * g.strides[k][d];
  }
  for (int64_t row = rowBegin; row < rowEnd; row++) {
    inner(off);
    for (int d = nd - 2; d >= 0; d--) {
      for (int k = 0; k < K; k++) off[k] += g.strides[k][d];
      if (++idx[d] < g.shape[d]) break;
      for (int k = 0; k < K; k++) off[k] -= g.strides[k][d] * g.shape[d];
      idx[d] = 0;
    }
  }
}

// Splits rows across threads when the whole op is large enough to pay for it.
template <int K, class F>
void parallelRows(const Geo& g, const int64_t* base, F inner) {
  if (g.nd == 0 || g.numel == 0) return;
  const int64_t inner_n = g.shape[g.nd - 1];
  const int64_t rows = g.numel / inner_n;
  if (g.numel < kParallelGrain || rows < 2) {
    forEachRow<K>(g, 0, rows, base, inner);
    return;
  }
#pragma omp parallel
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t b = rows * t / nt, e = rows * (t + 1) / nt;
    if (b < e) forEachRow<K>(g, b, e, base, inner);
  }
}

// Contiguous 1-d ranges split across threads.
template <class F>
void parallelRange(int64_t n, F body) {
  if (n < kParallelGrain) {
    body(0, n);
    return;
  }
#pragma omp parallel
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t b = n * t / nt, e = n * (t + 1) / nt;
    if (b < e) body(b, e);
  }
}

napi_value Unary(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int op = a.i32(0);
  size_t glen = 0, xlen = 0, olen = 0;
  const int32_t* gp = a.i32ptr(1, &glen);
  const float* x = a.f32(2, &xlen);
  const int64_t xOff = a.i64(3);
  float* out = a.f32(4, &olen);
  const int64_t oOff = a.i64(5);
  const float sa = float(a.num(6)), sb = float(a.num(7));
  Geo g;
  if (!a.ok || !g.parse(gp, glen, 2)) return a.bad("unary");
  if (!g.inBounds(0, xOff, xlen) || !g.inBounds(1, oOff, olen)) return fail(env, "bigdl native unary: view outside its buffer");
  if (g.nd == 1 && g.strides[0][0] == 1 && g.strides[1][0] == 1) {
    parallelRange(g.numel, [&](int64_t b, int64_t e) { unaryContiguous(op, e - b, x + xOff + b, out + oOff + b, sa, sb); });
    return undefined(env);
  }
  const int64_t base[2] = {xOff, oOff};
  const int64_t n = g.nd ? g.shape[g.nd - 1] : 1;
  const int64_t sx = g.nd ? g.strides[0][g.nd - 1] : 0, so = g.nd ? g.strides[1][g.nd - 1] : 0;
  if (g.nd == 0) {
    out[oOff] = unaryScalar(op, x[xOff], sa, sb);
    return undefined(env);
  }
  parallelRows<2>(g, base, [&](const int64_t* off) {
    if (sx == 1 && so == 1) unaryContiguous(op, n, x + off[0], out + off[1], sa, sb);
    else for (int64_t i = 0; i < n; i++) out[off[1] + i * so] = unaryScalar(op, x[off[0] + i * sx], sa, sb);
  });
  return undefined(env);
}

napi_value BinaryFn(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int op = a.i32(0);
  size_t glen = 0, xlen = 0, ylen = 0, olen = 0;
  const int32_t* gp = a.i32ptr(1, &glen);
  const float* x = a.f32(2, &xlen);
  const int64_t xOff = a.i64(3);
  const float* y = a.f32(4, &ylen);
  const int64_t yOff = a.i64(5);
  float* out = a.f32(6, &olen);
  const int64_t oOff = a.i64(7);
  const float sa = float(a.num(8));
  Geo g;
  if (!a.ok || !g.parse(gp, glen, 3) || op < 0 || op >= kBinaryOps) return a.bad("binary");
  if (!g.inBounds(0, xOff, xlen) || !g.inBounds(1, yOff, ylen) || !g.inBounds(2, oOff, olen))
    return fail(env, "bigdl native binary: view outside its buffer");
  const BinaryInnerFn fn = kBinaryInner[op];
  if (g.nd == 0) {
    fn(1, x + xOff, 0, y + yOff, 0, out + oOff, 1, sa);
    return undefined(env);
  }
  const int64_t n = g.shape[g.nd - 1];
  const int64_t sx = g.strides[0][g.nd - 1], sy = g.strides[1][g.nd - 1], so = g.strides[2][g.nd - 1];
  if (g.nd == 1 && so == 1 && sx <= 1 && sy <= 1) {
    parallelRange(n, [&](int64_t b, int64_t e) { fn(e - b, x + xOff + b * sx, sx, y + yOff + b * sy, sy, out + oOff + b, 1, sa); });
    return undefined(env);
  }
  const int64_t base[3] = {xOff, yOff, oOff};
  parallelRows<3>(g, base, [&](const int64_t* off) { fn(n, x + off[0], sx, y + off[1], sy, out + off[2], so, sa); });
  return undefined(env);
}

template <typename S, typename D>
void copyStrided(const Geo& g, const S* src, int64_t sOff, D* dst, int64_t dOff) {
  if (g.nd == 0) {
    dst[dOff] = D(src[sOff]);
    return;
  }
  const int64_t base[2] = {sOff, dOff};
  const int64_t n = g.shape[g.nd - 1], ss = g.strides[0][g.nd - 1], ds = g.strides[1][g.nd - 1];
  parallelRows<2>(g, base, [&](const int64_t* off) {
    const S* s = src + off[0];
    D* d = dst + off[1];
    if (ss == 1 && ds == 1) for (int64_t i = 0; i < n; i++) d[i] = D(s[i]);
    else for (int64_t i = 0; i < n; i++) d[i * ds] = D(s[i * ss]);
  });
}

napi_value Copy(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t glen = 0;
  const int32_t* gp = a.i32ptr(0, &glen);
  napi_typedarray_type st, dt;
  size_t slen = 0, dlen = 0;
  void *src = nullptr, *dst = nullptr;
  if (a.argc < 5 || napi_get_typedarray_info(env, a.argv[1], &st, &slen, &src, nullptr, nullptr) != napi_ok ||
      napi_get_typedarray_info(env, a.argv[3], &dt, &dlen, &dst, nullptr, nullptr) != napi_ok)
    return a.bad("copy");
  const int64_t sOff = a.i64(2), dOff = a.i64(4);
  Geo g;
  if (!a.ok || !g.parse(gp, glen, 2)) return a.bad("copy");
  if (!g.inBounds(0, sOff, slen) || !g.inBounds(1, dOff, dlen)) return fail(env, "bigdl native copy: view outside its buffer");
  const bool sf = st == napi_float32_array, df = dt == napi_float32_array;
  if ((!sf && st != napi_int32_array) || (!df && dt != napi_int32_array)) return fail(env, "bigdl native copy: only Float32Array and Int32Array");
  // float -> int truncates toward zero, as the reference does with Math.trunc.
  if (sf && df) copyStrided(g, static_cast<const float*>(src), sOff, static_cast<float*>(dst), dOff);
  else if (sf) copyStrided(g, static_cast<const float*>(src), sOff, static_cast<int32_t*>(dst), dOff);
  else if (df) copyStrided(g, static_cast<const int32_t*>(src), sOff, static_cast<float*>(dst), dOff);
  else copyStrided(g, static_cast<const int32_t*>(src), sOff, static_cast<int32_t*>(dst), dOff);
  return undefined(env);
}

// --- reductions over [outer, n, inner] ---------------------------------------------------------

void reduceBlock(int op, int64_t n, int64_t inner, const float* x, float* out, int32_t* idx) {
  if (op == RSum || op == RMean || op == RSumSquares) {
    // Accumulate in double: a float sum of millions of values (a data set's mean) drifts in the
    // third digit. The reference twin sums in double too.
    const bool sq = op == RSumSquares;
    if (inner == 1) {
      double s = 0.0;
      if (sq) {
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < n; i++) s += double(x[i]) * double(x[i]);
      } else {
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < n; i++) s += double(x[i]);
      }
      out[0] = float(op == RMean ? s / double(n) : s);
      return;
    }
    thread_local std::vector<double> acc;
    acc.assign(size_t(inner), 0.0);
    double* a = acc.data();
    for (int64_t i = 0; i < n; i++) {
      const float* r = x + i * inner;
      if (sq) {
#pragma omp simd
        for (int64_t j = 0; j < inner; j++) a[j] += double(r[j]) * double(r[j]);
      } else {
#pragma omp simd
        for (int64_t j = 0; j < inner; j++) a[j] += double(r[j]);
      }
    }
    for (int64_t j = 0; j < inner; j++) out[j] = float(op == RMean ? a[j] / double(n) : a[j]);
    return;
  }
  if (op == RProd) {
    for (int64_t j = 0; j < inner; j++) out[j] = 1.0f;
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < inner; j++) out[j] *= x[i * inner + j];
    return;
  }
  // Max / Min keep the first extreme; NaN wins (as in PyTorch) so it cannot hide.
  const bool isMax = op == RMax;
  for (int64_t j = 0; j < inner; j++) {
    float best = x[j];
    int32_t at = 0;
    for (int64_t i = 1; i < n && !std::isnan(best); i++) {
      const float v = x[i * inner + j];
      if (std::isnan(v) || (isMax ? v > best : v < best)) {
        best = v;
        at = int32_t(i);
      }
    }
    out[j] = best;
    if (idx) idx[j] = at;
  }
}

napi_value ReduceFn(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int op = a.i32(0);
  const int64_t outer = a.i64(1), n = a.i64(2), inner = a.i64(3);
  size_t xlen = 0, olen = 0, ilen = 0;
  const float* x = a.f32(4, &xlen);
  const int64_t xOff = a.i64(5);
  float* out = a.f32(6, &olen);
  const int64_t oOff = a.i64(7);
  int32_t* idx = a.isNull(8) ? nullptr : a.i32ptr(8, &ilen);
  const int64_t iOff = a.i64(9);
  if (!a.ok || outer < 0 || n < 1 || inner < 0) return a.bad("reduce");
  if (xOff < 0 || xOff + outer * n * inner > int64_t(xlen) || oOff < 0 || oOff + outer * inner > int64_t(olen) ||
      (idx && (iOff < 0 || iOff + outer * inner > int64_t(ilen))))
    return fail(env, "bigdl native reduce: view outside its buffer");
  auto body = [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; o++)
      reduceBlock(op, n, inner, x + xOff + o * n * inner, out + oOff + o * inner, idx ? idx + iOff + o * inner : nullptr);
  };
  if (outer * n * inner >= kParallelGrain && outer >= 2) {
#pragma omp parallel
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      body(outer * t / nt, outer * (t + 1) / nt);
    }
  } else {
    body(0, outer);
  }
  return undefined(env);
}

// --- softmax ------------------------------------------------------------------------------------

void softmaxRow(bool log, int64_t n, int64_t inner, const float* x, float* y) {
  float m = -std::numeric_limits<float>::infinity();
  if (inner == 1) {
#pragma omp simd reduction(max : m)
    for (int64_t i = 0; i < n; i++) m = std::max(m, x[i]);
  } else {
    for (int64_t i = 0; i < n; i++) m = std::max(m, x[i * inner]);
  }
  float s = 0.0f;
  if (inner == 1) {
    // exp(x - m) into y (libmvec), then one pass to normalise
    unaryContiguous(Affine, n, x, y, 1.0f, -m);
    unaryContiguous(Exp, n, y, y, 0, 0);
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += y[i];
    if (log) {
      const float ls = m + std::log(s);
      for (int64_t i = 0; i < n; i++) y[i] = x[i] - ls;
    } else {
      const float inv = 1.0f / s;
      for (int64_t i = 0; i < n; i++) y[i] *= inv;
    }
    return;
  }
  for (int64_t i = 0; i < n; i++) s += std::exp(x[i * inner] - m);
  if (log) {
    const float ls = m + std::log(s);
    for (int64_t i = 0; i < n; i++) y[i * inner] = x[i * inner] - ls;
  } else {
    for (int64_t i = 0; i < n; i++) y[i * inner] = std::exp(x[i * inner] - m) / s;
  }
}

void softmaxBackwardRow(bool log, int64_t n, int64_t inner, const float* y, const float* gy, float* gx) {
  float s = 0.0f;
  if (log) {
    for (int64_t i = 0; i < n; i++) s += gy[i * inner];
    for (int64_t i = 0; i < n; i++) gx[i * inner] = gy[i * inner] - std::exp(y[i * inner]) * s;
  } else {
    for (int64_t i = 0; i < n; i++) s += gy[i * inner] * y[i * inner];
    for (int64_t i = 0; i < n; i++) gx[i * inner] = y[i * inner] * (gy[i * inner] - s);
  }
}

template <class F>
void forRows(int64_t outer, int64_t inner, int64_t work, F row) {
  const int64_t rows = outer * inner;
  auto body = [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; r++) row(r / inner, r % inner);
  };
  if (work >= kParallelGrain && rows >= 2) {
#pragma omp parallel
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      body(rows * t / nt, rows * (t + 1) / nt);
    }
  } else {
    body(0, rows);
  }
}

napi_value Softmax(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const bool log = a.flag(0);
  const int64_t outer = a.i64(1), n = a.i64(2), inner = a.i64(3);
  size_t xlen = 0, ylen = 0;
  const float* x = a.f32(4, &xlen);
  const int64_t xOff = a.i64(5);
  float* y = a.f32(6, &ylen);
  const int64_t yOff = a.i64(7);
  if (!a.ok || outer < 0 || n < 1 || inner < 1) return a.bad("softmax");
  const int64_t total = outer * n * inner;
  if (xOff < 0 || xOff + total > int64_t(xlen) || yOff < 0 || yOff + total > int64_t(ylen))
    return fail(env, "bigdl native softmax: view outside its buffer");
  forRows(outer, inner, total, [&](int64_t o, int64_t j) {
    const int64_t base = o * n * inner + j;
    softmaxRow(log, n, inner, x + xOff + base, y + yOff + base);
  });
  return undefined(env);
}

napi_value SoftmaxBackward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const bool log = a.flag(0);
  const int64_t outer = a.i64(1), n = a.i64(2), inner = a.i64(3);
  size_t ylen = 0, gylen = 0, gxlen = 0;
  const float* y = a.f32(4, &ylen);
  const int64_t yOff = a.i64(5);
  const float* gy = a.f32(6, &gylen);
  const int64_t gyOff = a.i64(7);
  float* gx = a.f32(8, &gxlen);
  const int64_t gxOff = a.i64(9);
  if (!a.ok || outer < 0 || n < 1 || inner < 1) return a.bad("softmaxBackward");
  const int64_t total = outer * n * inner;
  if (yOff < 0 || yOff + total > int64_t(ylen) || gyOff < 0 || gyOff + total > int64_t(gylen) || gxOff < 0 ||
      gxOff + total > int64_t(gxlen))
    return fail(env, "bigdl native softmaxBackward: view outside its buffer");
  forRows(outer, inner, total, [&](int64_t o, int64_t j) {
    const int64_t base = o * n * inner + j;
    softmaxBackwardRow(log, n, inner, y + yOff + base, gy + gyOff + base, gx + gxOff + base);
  });
  return undefined(env);
}

// --- gather / scatter ---------------------------------------------------------------------------

// Index validation happens before any write so that a bad index leaves the output untouched.
int64_t firstBadIndex(const int32_t* idx, int64_t count, int64_t limit) {
  for (int64_t i = 0; i < count; i++)
    if (idx[i] < 0 || idx[i] >= limit) return i;
  return -1;
}

napi_value Gather(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int64_t outer = a.i64(0), nIn = a.i64(1), inner = a.i64(2), nIdx = a.i64(3);
  size_t xlen = 0, ilen = 0, olen = 0;
  const float* x = a.f32(4, &xlen);
  const int64_t xOff = a.i64(5);
  const int32_t* idx = a.i32ptr(6, &ilen);
  const int64_t iOff = a.i64(7);
  float* out = a.f32(8, &olen);
  const int64_t oOff = a.i64(9);
  if (!a.ok) return a.bad("gather");
  const int64_t count = outer * nIdx * inner;
  if (xOff < 0 || xOff + outer * nIn * inner > int64_t(xlen) || iOff < 0 || iOff + count > int64_t(ilen) || oOff < 0 ||
      oOff + count > int64_t(olen))
    return fail(env, "bigdl native gather: view outside its buffer");
  const int64_t bad = firstBadIndex(idx + iOff, count, nIn);
  if (bad >= 0) return number(env, double(bad));
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < nIdx; j++)
      for (int64_t i = 0; i < inner; i++) {
        const int64_t p = (o * nIdx + j) * inner + i;
        out[oOff + p] = x[xOff + (o * nIn + idx[iOff + p]) * inner + i];
      }
  return number(env, -1);
}

napi_value ScatterAdd(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int64_t outer = a.i64(0), nOut = a.i64(1), inner = a.i64(2), nIdx = a.i64(3);
  size_t slen = 0, ilen = 0, olen = 0;
  const float* src = a.f32(4, &slen);
  const int64_t sOff = a.i64(5);
  const int32_t* idx = a.i32ptr(6, &ilen);
  const int64_t iOff = a.i64(7);
  float* out = a.f32(8, &olen);
  const int64_t oOff = a.i64(9);
  if (!a.ok) return a.bad("scatterAdd");
  const int64_t count = outer * nIdx * inner;
  if (sOff < 0 || sOff + count > int64_t(slen) || iOff < 0 || iOff + count > int64_t(ilen) || oOff < 0 ||
      oOff + outer * nOut * inner > int64_t(olen))
    return fail(env, "bigdl native scatterAdd: view outside its buffer");
  const int64_t bad = firstBadIndex(idx + iOff, count, nOut);
  if (bad >= 0) return number(env, double(bad));
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < nIdx; j++)
      for (int64_t i = 0; i < inner; i++) {
        const int64_t p = (o * nIdx + j) * inner + i;
        out[oOff + (o * nOut + idx[iOff + p]) * inner + i] += src[sOff + p];
      }
  return number(env, -1);
}

napi_value IndexSelect(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int64_t rows = a.i64(0), width = a.i64(1);
  size_t tlen = 0, ilen = 0, olen = 0;
  const float* table = a.f32(2, &tlen);
  const int64_t tOff = a.i64(3);
  const int32_t* idx = a.i32ptr(4, &ilen);
  const int64_t iOff = a.i64(5), count = a.i64(6);
  float* out = a.f32(7, &olen);
  const int64_t oOff = a.i64(8);
  if (!a.ok) return a.bad("indexSelect");
  if (tOff < 0 || tOff + rows * width > int64_t(tlen) || iOff < 0 || iOff + count > int64_t(ilen) || oOff < 0 ||
      oOff + count * width > int64_t(olen))
    return fail(env, "bigdl native indexSelect: view outside its buffer");
  const int64_t bad = firstBadIndex(idx + iOff, count, rows);
  if (bad >= 0) return number(env, double(bad));
  for (int64_t j = 0; j < count; j++)
    std::memcpy(out + oOff + j * width, table + tOff + int64_t(idx[iOff + j]) * width, sizeof(float) * width);
  return number(env, -1);
}

napi_value IndexAdd(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int64_t rows = a.i64(0), width = a.i64(1);
  size_t tlen = 0, ilen = 0, slen = 0;
  float* table = a.f32(2, &tlen);
  const int64_t tOff = a.i64(3);
  const int32_t* idx = a.i32ptr(4, &ilen);
  const int64_t iOff = a.i64(5), count = a.i64(6);
  const float* src = a.f32(7, &slen);
  const int64_t sOff = a.i64(8);
  const float alpha = float(a.num(9));
  if (!a.ok) return a.bad("indexAdd");
  if (tOff < 0 || tOff + rows * width > int64_t(tlen) || iOff < 0 || iOff + count > int64_t(ilen) || sOff < 0 ||
      sOff + count * width > int64_t(slen))
    return fail(env, "bigdl native indexAdd: view outside its buffer");
  const int64_t bad = firstBadIndex(idx + iOff, count, rows);
  if (bad >= 0) return number(env, double(bad));
  for (int64_t j = 0; j < count; j++) {
    float* t = table + tOff + int64_t(idx[iOff + j]) * width;
    const float* s = src + sOff + j * width;
    for (int64_t i = 0; i < width; i++) t[i] += alpha * s[i];
  }
  return number(env, -1);
}

// Bit test rather than std::isfinite so that the answer survives any math flags.
napi_value AllFinite(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t len = 0;
  const float* x = a.f32(0, &len);
  const int64_t off = a.i64(1), n = a.i64(2);
  if (!a.ok || off < 0 || n < 0 || off + n > int64_t(len)) return a.bad("allFinite");
  const uint32_t* bits = reinterpret_cast<const uint32_t*>(x + off);
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; i++) bad |= uint32_t((bits[i] & 0x7f800000u) == 0x7f800000u);
  return boolean(env, bad == 0);
}

// One pass of SGD over contiguous n elements (the rule of src/optim/sgd.ts; the reference is
// src/backend/reference/core.ts sgdUpdate):
//   d = g + wd*w;  b = first ? d : mom*b + (1-damp)*d;  d = nesterov ? d + mom*b : (mom ? b : d);  w -= lr*d
// Args: n, w, wOff, g, gOff, buf (null without momentum), bufOff, lr, weightDecay, momentum,
// dampening, nesterov, first.
template <bool kDecay, bool kMomentum>
void sgdLoop(int64_t lo, int64_t hi, float* w, const float* g, float* b, float nlr, float wd, float mom, float keep,
             bool nesterov, bool first) {
  for (int64_t i = lo; i < hi; i++) {
    float d = g[i];
    if (kDecay) d = d + wd * w[i];
    if (kMomentum) {
      const float v = first ? d : mom * b[i] + keep * d;
      b[i] = v;
      d = nesterov ? d + mom * v : v;
    }
    w[i] = w[i] + nlr * d;
  }
}

napi_value SgdUpdate(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int64_t n = a.i64(0);
  size_t wl = 0, gl = 0, bl = 0;
  float* w = a.f32(1, &wl);
  const int64_t wOff = a.i64(2);
  const float* g = a.f32(3, &gl);
  const int64_t gOff = a.i64(4);
  float* b = a.isNull(5) ? nullptr : a.f32(5, &bl);
  const int64_t bOff = a.i64(6);
  const float nlr = float(-a.num(7)), wd = float(a.num(8)), mom = float(a.num(9)), keep = float(1.0 - a.num(10));
  const bool nesterov = a.flag(11), first = a.flag(12);
  if (!a.ok || n < 0) return a.bad("sgdUpdate");
  const bool momentum = mom != 0.0f;
  if (wOff < 0 || gOff < 0 || wOff + n > int64_t(wl) || gOff + n > int64_t(gl) ||
      (momentum && (!b || bOff < 0 || bOff + n > int64_t(bl))))
    return fail(env, "bigdl native sgdUpdate: a buffer is too short for the range (or the momentum buffer is missing)");
  float* W = w + wOff;
  const float* G = g + gOff;
  float* B = momentum ? b + bOff : nullptr;
  const auto run = [&](int64_t lo, int64_t hi) {
    if (wd != 0.0f) {
      if (momentum) sgdLoop<true, true>(lo, hi, W, G, B, nlr, wd, mom, keep, nesterov, first);
      else sgdLoop<true, false>(lo, hi, W, G, B, nlr, wd, mom, keep, nesterov, first);
    } else {
      if (momentum) sgdLoop<false, true>(lo, hi, W, G, B, nlr, wd, mom, keep, nesterov, first);
      else sgdLoop<false, false>(lo, hi, W, G, B, nlr, wd, mom, keep, nesterov, first);
    }
  };
  if (n < 4 * kParallelGrain) {
    run(0, n);
  } else {
#pragma omp parallel
    {
      const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
      // chunks aligned to 16 floats so that no two threads share a cache line
      const int64_t chunk = ((n + T - 1) / T + 15) / 16 * 16;
      const int64_t lo = std::min(n, t * chunk), hi = std::min(n, lo + chunk);
      run(lo, hi);
    }
  }
  return undefined(env);
}

// --- LSTM gate arithmetic, one call per time step (reference: src/backend/reference/core.ts) ---
// Rows b < B; each operand is a row base (offset + b * rowStride) with contiguous elements. The gate
// block G holds [i | f | g | o], n elements each. No threading: a step is a few tens of
// microseconds, less than waking the pool.
struct RowArg {
  float* p = nullptr;
  int64_t off = 0, row = 0;
  size_t len = 0;
  float* at(int64_t b) const { return p + off + b * row; }
  // every row's [0, width) inside the array
  bool fits(int64_t B, int64_t width) const {
    if (B == 0 || width == 0) return true;
    const int64_t last = off + (B - 1) * row;
    return p && off >= 0 && last >= 0 && std::max(off, last) + width <= int64_t(len);
  }
};

RowArg rowArg(Args& a, size_t i) {
  RowArg r;
  r.p = a.f32(i, &r.len);
  r.off = a.i64(i + 1);
  r.row = a.i64(i + 2);
  return r;
}

// Row loops with restrict pointers, so that they vectorise (the rows of distinct operands never
// overlap: each is a different state or gate tensor of one time step).
void lstmCellRow(int64_t n, const float* __restrict g, const float* __restrict cp, float* __restrict c) {
  const float *gi = g, *gf = g + n, *gg = g + 2 * n;
  for (int64_t j = 0; j < n; j++) c[j] = gf[j] * cp[j] + gi[j] * gg[j];
}
void lstmHiddenRow(int64_t n, const float* __restrict o, const float* __restrict tc, float* __restrict h) {
  for (int64_t j = 0; j < n; j++) h[j] = o[j] * tc[j];
}
void lstmBackwardRow(int64_t n, const float* __restrict g, const float* __restrict tc, const float* __restrict cp,
                     const float* __restrict dh, float* __restrict dc, float* __restrict d, float* __restrict dcp) {
  const float *gi = g, *gf = g + n, *gg = g + 2 * n, *go = g + 3 * n;
  for (int64_t j = 0; j < n; j++) {
    const float o = go[j], t = tc[j], y = dh[j];
    d[3 * n + j] = (y * t) * o * (1.0f - o);
    const float dcj = dc[j] + (y * o) * (1.0f - t * t);
    dc[j] = dcj;
    const float i = gi[j], f = gf[j], gj = gg[j];
    d[j] = (dcj * gj) * i * (1.0f - i);
    d[n + j] = (dcj * cp[j]) * f * (1.0f - f);
    d[2 * n + j] = (dcj * i) * (1.0f - gj * gj);
    dcp[j] = dcj * f;
  }
}
std::vector<float>& lstmScratch(int64_t n) {
  thread_local std::vector<float> v;
  if (int64_t(v.size()) < n) v.resize(n);
  return v;
}

// forward: G (pre-activations) -> activations in place; c = f*cp + i*g; tc = tanh(c); h = o*tc
// Args: B, n, G(3), cp(3), c(3), tc(3), h(3)
napi_value LstmGatesForward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int64_t B = a.i64(0), n = a.i64(1);
  RowArg G = rowArg(a, 2), cp = rowArg(a, 5), c = rowArg(a, 8), tc = rowArg(a, 11), h = rowArg(a, 14);
  if (!a.ok || B < 0 || n < 0) return a.bad("lstmGatesForward");
  if (!G.fits(B, 4 * n) || !cp.fits(B, n) || !c.fits(B, n) || !tc.fits(B, n) || !h.fits(B, n))
    return fail(env, "bigdl native lstmGatesForward: a view lies outside its buffer");
  for (int64_t b = 0; b < B; b++) {
    float* g = G.at(b);
    unaryContiguous(Sigmoid, 2 * n, g, g, 0, 0);
    unaryContiguous(Tanh, n, g + 2 * n, g + 2 * n, 0, 0);
    unaryContiguous(Sigmoid, n, g + 3 * n, g + 3 * n, 0, 0);
    lstmCellRow(n, g, cp.at(b), c.at(b));
    unaryContiguous(Tanh, n, c.at(b), tc.at(b), 0, 0);
    lstmHiddenRow(n, g + 3 * n, tc.at(b), h.at(b));
  }
  return undefined(env);
}

// backward, from the activated gates G, tc = tanh(c), cp, dh and dc (dc += the path through h):
//   do = dh*tc*o(1-o);  dc += dh*o*(1-tc^2);  di = dc*g*i(1-i);  df = dc*cp*f(1-f);
//   dg = dc*i*(1-g^2);  dcp = dc*f
// Args: B, n, G(3), tc(3), cp(3), dh(3), dc(3), dG(3), dcp(3)
napi_value LstmGatesBackward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int64_t B = a.i64(0), n = a.i64(1);
  RowArg G = rowArg(a, 2), tc = rowArg(a, 5), cp = rowArg(a, 8), dh = rowArg(a, 11), dc = rowArg(a, 14), dG = rowArg(a, 17),
         dcp = rowArg(a, 20);
  if (!a.ok || B < 0 || n < 0) return a.bad("lstmGatesBackward");
  if (!G.fits(B, 4 * n) || !tc.fits(B, n) || !cp.fits(B, n) || !dh.fits(B, n) || !dc.fits(B, n) || !dG.fits(B, 4 * n) ||
      !dcp.fits(B, n))
    return fail(env, "bigdl native lstmGatesBackward: a view lies outside its buffer");
  for (int64_t b = 0; b < B; b++) {
    if (dcp.at(b) == dc.at(b)) {
      // dcp aliases dc: the row through a copy (the restrict loop below assumes distinct rows)
      std::vector<float>& tmp = lstmScratch(n);
      lstmBackwardRow(n, G.at(b), tc.at(b), cp.at(b), dh.at(b), dc.at(b), dG.at(b), tmp.data());
      std::memcpy(dcp.at(b), tmp.data(), sizeof(float) * n);
    } else {
      lstmBackwardRow(n, G.at(b), tc.at(b), cp.at(b), dh.at(b), dc.at(b), dG.at(b), dcp.at(b));
    }
  }
  return undefined(env);
}

}  // namespace

void registerCore(napi_env env, napi_value exports) {
  defineFunction(env, exports, "unary", Unary);
  defineFunction(env, exports, "binary", BinaryFn);
  defineFunction(env, exports, "copy", Copy);
  defineFunction(env, exports, "reduce", ReduceFn);
  defineFunction(env, exports, "softmax", Softmax);
  defineFunction(env, exports, "softmaxBackward", SoftmaxBackward);
  defineFunction(env, exports, "gather", Gather);
  defineFunction(env, exports, "scatterAdd", ScatterAdd);
  defineFunction(env, exports, "indexSelect", IndexSelect);
  defineFunction(env, exports, "indexAdd", IndexAdd);
  defineFunction(env, exports, "allFinite", AllFinite);
  defineFunction(env, exports, "sgdUpdate", SgdUpdate);
  defineFunction(env, exports, "lstmGatesForward", LstmGatesForward);
  defineFunction(env, exports, "lstmGatesBackward", LstmGatesBackward);
}

}  // namespace bigdl
