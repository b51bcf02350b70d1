// Cross-channel LRN and batch normalisation on NCHW data: our own OpenMP loops, because oneDNN
// 2.6 only has slow generic implementations of both for plain layouts (figures below).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "dnn_util.h"

extern "C" {
// glibc's vector math (libmvec), AVX2 variants: 8 floats per call, <= 4 ulp.
__m256 _ZGVdN8v_expf(__m256);
__m256 _ZGVdN8v_logf(__m256);
}

namespace bigdl {
namespace dnn {
namespace {

// ---- LRN --------------------------------------------------------------------------------------

// Own loops, not oneDNN. oneDNN 2.6 has JIT LRN only for beta = 0.75 (on NCHW only for size 5
// forward); every other case, including every NCHW backward, runs its scalar reference
// implementation: 316 ms for the backward of a 16x192x56x56 size-5 LRN. These loops vectorise
// across contiguous spatial positions and thread over (image, spatial chunk). The backward
// recomputes the window sums from x, so LRN keeps no workspace (oneDNN's JIT forward would keep
// twice the activation's size per layer).
//
// y = x * s^-beta with s = k + alpha/size * sum of x^2 over channels [c - size/2, c + size/2]
// (the Caffe/Torch/PyTorch convention, which is also oneDNN's: it divides alpha by the size).
struct LrnGeo {
  int64_t n, c, h, w, size;
  double alpha, beta, k;
  LrnGeo(const int32_t* p, double al, double be, double kk)
      : n(p[0]), c(p[1]), h(p[2]), w(p[3]), size(p[4]), alpha(al), beta(be), k(kk) {}
  std::string str() const {
    return "n=" + std::to_string(n) + " c=" + std::to_string(c) + " h=" + std::to_string(h) + " w=" + std::to_string(w) +
           " size=" + std::to_string(size) + " alpha=" + std::to_string(alpha) + " beta=" + std::to_string(beta) +
           " k=" + std::to_string(k);
  }
  std::string check() const {
    if (n < 1 || c < 1 || h < 1 || w < 1 || size < 1 || size % 2 == 0) return "sizes must be positive and size odd";
    if (!(k > 0) || !(alpha >= 0)) return "k must be positive and alpha non-negative";
    return "";
  }
  int64_t numel() const { return n * c * h * w; }
  // spatial positions per work item: long enough to vectorise, short enough that the per-thread
  // scratch (2 x channels x chunk floats) stays in L2
  int64_t chunk() const { return std::min<int64_t>(h * w, std::max<int64_t>(16, (int64_t(1) << 16) / c / 8 * 8)); }
};

// out[i] = s[i]^-beta
void powNegBeta(const float* s, float* out, int64_t n, float beta) {
  int64_t i = 0;
  if (beta == 0.75f) {
    for (; i + 8 <= n; i += 8) {
      const __m256 r = _mm256_div_ps(_mm256_set1_ps(1.f), _mm256_sqrt_ps(_mm256_loadu_ps(s + i)));
      _mm256_storeu_ps(out + i, _mm256_mul_ps(r, _mm256_sqrt_ps(r)));
    }
    for (; i < n; i++) {
      const float r = 1.f / std::sqrt(s[i]);
      out[i] = r * std::sqrt(r);
    }
  } else if (beta == 0.5f) {
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(out + i, _mm256_div_ps(_mm256_set1_ps(1.f), _mm256_sqrt_ps(_mm256_loadu_ps(s + i))));
    for (; i < n; i++) out[i] = 1.f / std::sqrt(s[i]);
  } else if (beta == 1.f) {
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_div_ps(_mm256_set1_ps(1.f), _mm256_loadu_ps(s + i)));
    for (; i < n; i++) out[i] = 1.f / s[i];
  } else {
    const __m256 nb = _mm256_set1_ps(-beta);
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(out + i, _ZGVdN8v_expf(_mm256_mul_ps(nb, _ZGVdN8v_logf(_mm256_loadu_ps(s + i)))));
    for (; i < n; i++) out[i] = std::exp(-beta * std::log(s[i]));
  }
}

// s[i] = k + alpha/size * sum over the window of channel ch of x^2, for `len` positions from xb
void lrnWindow(const LrnGeo& p, const float* xb, int64_t hw, int64_t ch, int64_t len, float* s) {
  const int64_t half = (p.size - 1) / 2;
  const int64_t lo = std::max<int64_t>(0, ch - half), hi = std::min<int64_t>(p.c - 1, ch + half);
  for (int64_t i = 0; i < len; i++) s[i] = 0.f;
  for (int64_t d = lo; d <= hi; d++) {
    const float* xd = xb + d * hw;
    for (int64_t i = 0; i < len; i++) s[i] += xd[i] * xd[i];
  }
  const float a = float(p.alpha / double(p.size)), k = float(p.k);
  for (int64_t i = 0; i < len; i++) s[i] = k + a * s[i];
}

thread_local std::vector<float> lrnScratch;

// Runs body(thread scratch, xOffset of the chunk, chunk length) over every (image, chunk).
template <typename F>
void lrnParallel(const LrnGeo& p, int64_t perThread, F&& body) {
  const int64_t hw = p.h * p.w, len = p.chunk(), chunks = (hw + len - 1) / len;
  const int threads = omp_get_max_threads();
  if (lrnScratch.size() < size_t(threads * perThread)) lrnScratch.resize(size_t(threads * perThread));
  float* scratch = lrnScratch.data();
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t item = 0; item < p.n * chunks; item++) {
    const int64_t img = item / chunks, s0 = (item % chunks) * len;
    body(scratch + omp_get_thread_num() * perThread, img * p.c * hw + s0, std::min(len, hw - s0));
  }
}

void lrnForward(const LrnGeo& p, const float* x, float* y) {
  const int64_t hw = p.h * p.w, len = p.chunk();
  const float beta = float(p.beta);
  lrnParallel(p, 2 * len, [&](float* t, int64_t off, int64_t m) {
    float *s = t, *pw = t + len;
    for (int64_t ch = 0; ch < p.c; ch++) {
      lrnWindow(p, x + off, hw, ch, m, s);
      powNegBeta(s, pw, m, beta);
      const float* xc = x + off + ch * hw;
      float* yc = y + off + ch * hw;
      for (int64_t i = 0; i < m; i++) yc[i] = xc[i] * pw[i];
    }
  });
}

// gx[j] = gy[j] s_j^-beta - 2 alpha beta / size * x[j] * sum over channels c whose window holds j
//         of gy[c] x[c] s_c^(-beta-1)
void lrnBackward(const LrnGeo& p, const float* x, const float* gy, float* gx) {
  const int64_t hw = p.h * p.w, len = p.chunk(), half = (p.size - 1) / 2;
  const float beta = float(p.beta), coef = float(2.0 * p.alpha * p.beta / double(p.size));
  lrnParallel(p, (2 * p.c + 1) * len, [&](float* t, int64_t off, int64_t m) {
    float *pw = t, *tt = t + p.c * len, *s = t + 2 * p.c * len;
    for (int64_t ch = 0; ch < p.c; ch++) {
      float* pc = pw + ch * len;
      float* tc = tt + ch * len;
      lrnWindow(p, x + off, hw, ch, m, s);
      powNegBeta(s, pc, m, beta);
      const float* xc = x + off + ch * hw;
      const float* gc = gy + off + ch * hw;
      for (int64_t i = 0; i < m; i++) tc[i] = gc[i] * xc[i] * pc[i] / s[i];
    }
    for (int64_t j = 0; j < p.c; j++) {
      const int64_t lo = std::max<int64_t>(0, j - half), hi = std::min<int64_t>(p.c - 1, j + half);
      for (int64_t i = 0; i < m; i++) s[i] = 0.f;
      for (int64_t ch = lo; ch <= hi; ch++) {
        const float* tc = tt + ch * len;
        for (int64_t i = 0; i < m; i++) s[i] += tc[i];
      }
      const float* xj = x + off + j * hw;
      const float* gj = gy + off + j * hw;
      const float* pj = pw + j * len;
      float* out = gx + off + j * hw;
      for (int64_t i = 0; i < m; i++) out[i] = gj[i] * pj[i] - coef * xj[i] * s[i];
    }
  });
}

bool lrnArgs(Args& a, double* al, double* be, double* k) {
  *al = a.num(1);
  *be = a.num(2);
  *k = a.num(3);
  return a.ok;
}

// lrnWorkspaceBytes(geo, alpha, beta, k) -> 0: the backward recomputes what it needs
napi_value LrnWorkspaceBytes(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int32_t* g = geometry(a, 5);
  double al, be, k;
  if (!g || !lrnArgs(a, &al, &be, &k)) return a.bad("lrnWorkspaceBytes");
  const LrnGeo p(g, al, be, k);
  const std::string err = p.check();
  if (!err.empty()) return opError(env, "lrnWorkspaceBytes", p.str(), err);
  return number(env, 0);
}

// lrnForward(geo, alpha, beta, k, x, xOff, y, yOff, workspace|null); the workspace is ignored
napi_value LrnForward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int32_t* g = geometry(a, 5);
  double al, be, k;
  if (!g || !lrnArgs(a, &al, &be, &k)) return a.bad("lrnForward");
  const LrnGeo p(g, al, be, k);
  std::string err = p.check();
  const float* x = operand(a, 4, p.numel(), "input", err);
  float* y = operand(a, 6, p.numel(), "output", err);
  if (!err.empty()) return opError(env, "lrnForward", p.str(), err);
  return guarded(env, "lrnForward", [&] { return p.str(); }, [&] { lrnForward(p, x, y); });
}

// lrnBackward(geo, alpha, beta, k, x, xOff, gy, gyOff, gx, gxOff, workspace|null); the workspace is ignored
napi_value LrnBackward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int32_t* g = geometry(a, 5);
  double al, be, k;
  if (!g || !lrnArgs(a, &al, &be, &k)) return a.bad("lrnBackward");
  const LrnGeo p(g, al, be, k);
  std::string err = p.check();
  const float* x = operand(a, 4, p.numel(), "input", err);
  const float* gy = operand(a, 6, p.numel(), "gradOutput", err);
  float* gx = operand(a, 8, p.numel(), "gradInput", err);
  if (!err.empty()) return opError(env, "lrnBackward", p.str(), err);
  return guarded(env, "lrnBackward", [&] { return p.str(); }, [&] { lrnBackward(p, x, gy, gx); });
}

// ---- batch normalisation ----------------------------------------------------------------------

// Own loops, not oneDNN: on plain NCHW oneDNN 2.6 only has its generic ncsp implementation,
// which measured 3.6 / 1.8 / 4.4 ms (training forward / inference / backward, 16x64x56x56, 2
// threads) where these loops take about half of that (PyTorch: 3.0 / 0.3 / 4.6 fwd+bwd). Each
// (image, channel) plane is contiguous: statistics are computed per plane while it is in cache
// (mean, then squared deviations) and combined per channel with Chan's formula, so x is read once
// for the statistics and once to normalise.

// geo = n c h w; eps is a number argument.
struct BnGeo {
  int64_t n, c, h, w;
  double eps;
  BnGeo(const int32_t* p, double e) : n(p[0]), c(p[1]), h(p[2]), w(p[3]), eps(e) {}
  std::string str() const {
    return "n=" + std::to_string(n) + " c=" + std::to_string(c) + " h=" + std::to_string(h) + " w=" + std::to_string(w) +
           " eps=" + std::to_string(eps);
  }
  std::string check() const {
    if (n < 1 || c < 1 || h < 1 || w < 1) return "sizes must be positive";
    if (!(eps > 0)) return "eps must be positive";
    return "";
  }
  int64_t numel() const { return n * c * h * w; }
};

// 16 independent partial sums (see rowSum) of (r - m)^2 and of g * (r - m).
float sqDevSum(const float* r, int64_t n, float m) {
  float acc[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) {
      const float d = r[i + j] - m;
      acc[j] += d * d;
    }
  float s = 0;
  for (; i < n; i++) s += (r[i] - m) * (r[i] - m);
  for (int j = 0; j < 16; j++) s += acc[j];
  return s;
}
float dotDev(const float* g, const float* r, int64_t n, float m) {
  float acc[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) acc[j] += g[i + j] * (r[i + j] - m);
  float s = 0;
  for (; i < n; i++) s += g[i] * (r[i] - m);
  for (int j = 0; j < 16; j++) s += acc[j];
  return s;
}

thread_local std::vector<double> bnPartials;
thread_local std::vector<float> bnCoefs;

// y = a[c] * x + b[c] over every plane
void bnAffine(const BnGeo& p, const float* x, float* y, const float* a, const float* b) {
  const int64_t hw = p.h * p.w;
  if (hw == 1) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < p.n; i++) {
      const float* r = x + i * p.c;
      float* o = y + i * p.c;
      for (int64_t ch = 0; ch < p.c; ch++) o[ch] = a[ch] * r[ch] + b[ch];
    }
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < p.n * p.c; plane++) {
    const int64_t ch = plane % p.c;
    const float ac = a[ch], bc = b[ch];
    const float* r = x + plane * hw;
    float* o = y + plane * hw;
    for (int64_t i = 0; i < hw; i++) o[i] = ac * r[i] + bc;
  }
}

// [N, C] data (h = w = 1): rows are contiguous over channels, so statistics accumulate in double
// per channel, vectorised across a block of channels, two passes (mean, then squared deviations).
constexpr int64_t kBnBlock = 256;

void bnRowStats(const BnGeo& p, const float* x, float* mean, float* var, double eps, const float* scale,
                const float* shift, float* a, float* b) {
#pragma omp parallel for schedule(static)
  for (int64_t c0 = 0; c0 < p.c; c0 += kBnBlock) {
    const int64_t cn = std::min(kBnBlock, p.c - c0);
    double mu[kBnBlock], m2[kBnBlock];
    for (int64_t j = 0; j < cn; j++) mu[j] = m2[j] = 0;
    for (int64_t i = 0; i < p.n; i++)
      for (int64_t j = 0; j < cn; j++) mu[j] += x[i * p.c + c0 + j];
    for (int64_t j = 0; j < cn; j++) mu[j] /= double(p.n);
    for (int64_t i = 0; i < p.n; i++)
      for (int64_t j = 0; j < cn; j++) {
        const double d = x[i * p.c + c0 + j] - mu[j];
        m2[j] += d * d;
      }
    for (int64_t j = 0; j < cn; j++) {
      const int64_t ch = c0 + j;
      const double v = m2[j] / double(p.n), inv = 1.0 / std::sqrt(v + eps);
      mean[ch] = float(mu[j]);
      var[ch] = float(v);
      a[ch] = float(scale[ch] * inv);
      b[ch] = float(shift[ch] - mu[j] * scale[ch] * inv);
    }
  }
}

void bnForward(const BnGeo& p, bool training, const float* x, float* y, const float* scale, const float* shift,
               float* mean, float* var) {
  const int64_t hw = p.h * p.w, planes = p.n * p.c;
  if (bnCoefs.size() < size_t(2 * p.c)) bnCoefs.resize(size_t(2 * p.c));
  float *a = bnCoefs.data(), *b = a + p.c;
  if (training && hw == 1) {
    bnRowStats(p, x, mean, var, p.eps, scale, shift, a, b);
  } else if (training) {
    if (bnPartials.size() < size_t(2 * planes)) bnPartials.resize(size_t(2 * planes));
    double *pm = bnPartials.data(), *pq = pm + planes;
#pragma omp parallel for schedule(static)
    for (int64_t plane = 0; plane < planes; plane++) {
      const float* r = x + plane * hw;
      const float m = rowSum(r, hw) / float(hw);
      pm[plane] = m;
      pq[plane] = sqDevSum(r, hw, m);
    }
#pragma omp parallel for schedule(static)
    for (int64_t ch = 0; ch < p.c; ch++) {
      double mu = 0;
      for (int64_t i = 0; i < p.n; i++) mu += pm[i * p.c + ch];
      mu /= double(p.n);
      double m2 = 0;
      for (int64_t i = 0; i < p.n; i++) {
        const double d = pm[i * p.c + ch] - mu;
        m2 += pq[i * p.c + ch] + double(hw) * d * d;
      }
      const double v = m2 / double(p.n * hw);
      mean[ch] = float(mu);
      var[ch] = float(v);
      const double inv = 1.0 / std::sqrt(v + p.eps);
      a[ch] = float(scale[ch] * inv);
      b[ch] = float(shift[ch] - mu * scale[ch] * inv);
    }
  } else {
    for (int64_t ch = 0; ch < p.c; ch++) {
      const double inv = 1.0 / std::sqrt(double(var[ch]) + p.eps);
      a[ch] = float(scale[ch] * inv);
      b[ch] = float(shift[ch] - double(mean[ch]) * scale[ch] * inv);
    }
  }
  bnAffine(p, x, y, a, b);
}

// gShift = sum gy; gScale = sum gy * xhat; gx = scale*inv * (gy - gShift/m - xhat * gScale/m)
void bnBackward(const BnGeo& p, const float* x, const float* gy, const float* scale, const float* mean,
                const float* var, float* gx, float* gScale, float* gShift) {
  const int64_t hw = p.h * p.w, planes = p.n * p.c;
  if (bnPartials.size() < size_t(2 * planes)) bnPartials.resize(size_t(2 * planes));
  double *ps = bnPartials.data(), *pd = ps + planes;
  if (hw == 1) {
    // [N, C]: per-channel sums accumulate over rows into the first row's slots
#pragma omp parallel for schedule(static)
    for (int64_t c0 = 0; c0 < p.c; c0 += kBnBlock) {
      const int64_t cn = std::min(kBnBlock, p.c - c0);
      for (int64_t j = 0; j < cn; j++) ps[c0 + j] = pd[c0 + j] = 0;
      for (int64_t i = 0; i < p.n; i++)
        for (int64_t j = 0; j < cn; j++) {
          const int64_t at = i * p.c + c0 + j;
          ps[c0 + j] += gy[at];
          pd[c0 + j] += double(gy[at]) * (x[at] - mean[c0 + j]);
        }
    }
  } else {
#pragma omp parallel for schedule(static)
    for (int64_t plane = 0; plane < planes; plane++) {
      const float* g = gy + plane * hw;
      ps[plane] = rowSum(g, hw);
      pd[plane] = dotDev(g, x + plane * hw, hw, mean[plane % p.c]);
    }
  }
  const int64_t rows = hw == 1 ? 1 : p.n;
  if (bnCoefs.size() < size_t(3 * p.c)) bnCoefs.resize(size_t(3 * p.c));
  float *ca = bnCoefs.data(), *cx = ca + p.c, *c0 = cx + p.c;
  const double m = double(p.n * hw);
  for (int64_t ch = 0; ch < p.c; ch++) {
    double sg = 0, sd = 0;
    for (int64_t i = 0; i < rows; i++) {
      sg += ps[i * p.c + ch];
      sd += pd[i * p.c + ch];
    }
    const double inv = 1.0 / std::sqrt(double(var[ch]) + p.eps), gs = sd * inv;
    gShift[ch] = float(sg);
    gScale[ch] = float(gs);
    // gx = a*gy + bx*x + b0 with a = scale*inv, bx = -a*inv*gs/m, b0 = a*(inv*gs/m*mean - sg/m)
    const double av = scale[ch] * inv;
    ca[ch] = float(av);
    cx[ch] = float(-av * inv * gs / m);
    c0[ch] = float(av * (inv * gs / m * mean[ch] - sg / m));
  }
  if (hw == 1) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < p.n; i++) {
      const float* g = gy + i * p.c;
      const float* r = x + i * p.c;
      float* o = gx + i * p.c;
      for (int64_t ch = 0; ch < p.c; ch++) o[ch] = ca[ch] * g[ch] + cx[ch] * r[ch] + c0[ch];
    }
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < planes; plane++) {
    const int64_t ch = plane % p.c;
    const float a = ca[ch], bx = cx[ch], b0 = c0[ch];
    const float* g = gy + plane * hw;
    const float* r = x + plane * hw;
    float* o = gx + plane * hw;
    for (int64_t i = 0; i < hw; i++) o[i] = a * g[i] + bx * r[i] + b0;
  }
}

// batchNormForward(geo, eps, training, x, xOff, y, yOff, scale, scaleOff, shift, shiftOff,
//                  mean, meanOff, variance, varianceOff)
napi_value BatchNormForward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int32_t* g = geometry(a, 4);
  const double eps = a.num(1);
  const bool training = a.flag(2);
  if (!g || !a.ok) return a.bad("batchNormForward");
  const BnGeo p(g, eps);
  std::string err = p.check();
  const float* x = operand(a, 3, p.numel(), "input", err);
  float* y = operand(a, 5, p.numel(), "output", err);
  const float* scale = operand(a, 7, p.c, "scale", err);
  const float* shift = operand(a, 9, p.c, "shift", err);
  float* mean = operand(a, 11, p.c, "mean", err);
  float* var = operand(a, 13, p.c, "variance", err);
  if (!err.empty()) return opError(env, "batchNormForward", p.str(), err);
  if (training && p.n * p.h * p.w < 2) return opError(env, "batchNormForward", p.str(), "training needs more than one value per channel");
  return guarded(env, "batchNormForward", [&] { return p.str(); },
                 [&] { bnForward(p, training, x, y, scale, shift, mean, var); });
}

// batchNormBackward(geo, eps, x, xOff, gy, gyOff, scale, scaleOff, mean, meanOff, variance, varianceOff,
//                   gx, gxOff, gScale, gScaleOff, gShift, gShiftOff)
napi_value BatchNormBackward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int32_t* g = geometry(a, 4);
  const double eps = a.num(1);
  if (!g || !a.ok) return a.bad("batchNormBackward");
  const BnGeo p(g, eps);
  std::string err = p.check();
  const float* x = operand(a, 2, p.numel(), "input", err);
  const float* gy = operand(a, 4, p.numel(), "gradOutput", err);
  const float* scale = operand(a, 6, p.c, "scale", err);
  const float* mean = operand(a, 8, p.c, "mean", err);
  const float* var = operand(a, 10, p.c, "variance", err);
  float* gx = operand(a, 12, p.numel(), "gradInput", err);
  float* gs = operand(a, 14, p.c, "gradScale", err);
  float* gb = operand(a, 16, p.c, "gradShift", err);
  if (!err.empty()) return opError(env, "batchNormBackward", p.str(), err);
  return guarded(env, "batchNormBackward", [&] { return p.str(); },
                 [&] { bnBackward(p, x, gy, scale, mean, var, gx, gs, gb); });
}

}  // namespace

void registerNorm(napi_env env, napi_value exports) {
  defineFunction(env, exports, "lrnWorkspaceBytes", LrnWorkspaceBytes);
  defineFunction(env, exports, "lrnForward", LrnForward);
  defineFunction(env, exports, "lrnBackward", LrnBackward);
  defineFunction(env, exports, "batchNormForward", BatchNormForward);
  defineFunction(env, exports, "batchNormBackward", BatchNormBackward);
}

}  // namespace dnn
}  // namespace bigdl
