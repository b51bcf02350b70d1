// GEMM through oneDNN's dnnl_sgemm (JIT, uses the widest vector ISA the CPU has) or OpenBLAS (the
// OpenMP build, so it shares one thread pool with oneDNN), and the thread setting for both
// libraries. Which library serves a call and when a call runs on one thread are decided here
// (figures in docs/ARCHITECTURE.md, "GEMM through oneDNN's sgemm").
#include <cblas.h>
#include <dnnl.h>
#include <omp.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "napi_util.h"

extern "C" void openblas_set_num_threads(int);

namespace bigdl {
namespace {

// Last element a row-major matrix with `rows` x `cols` stored at off with row stride ld touches.
bool matrixFits(int64_t off, int64_t rows, int64_t cols, int64_t ld, size_t len) {
  if (rows == 0 || cols == 0) return off >= 0;
  return off >= 0 && ld >= cols && off + (rows - 1) * ld + cols <= int64_t(len);
}

enum class GemmLib { Dnnl = 0, OpenBlas = 1 };

// BIGDL_GEMM=openblas|dnnl when the addon loads (default dnnl); setGemmLibrary changes it later.
GemmLib initialLib() {
  const char* e = std::getenv("BIGDL_GEMM");
  return e && std::strcmp(e, "openblas") == 0 ? GemmLib::OpenBlas : GemmLib::Dnnl;
}
GemmLib gemmLib = initialLib();

// Below this many multiply-adds (m*n*k) a call runs on the calling thread: waking the passive
// OpenMP workers (and waiting at the barrier for one the OS has descheduled, on a busy machine)
// costs more than splitting the work saves: 2^24 multiply-adds take ~90 us on one AVX-512 core.
constexpr int64_t kGemmSerialBelow = int64_t(1) << 24;

// Runs f with OpenMP's thread count set to 1 for the calling thread (not inside a parallel region,
// where the libraries already run serially), then restores it.
template <typename F>
void serially(F f) {
  if (omp_in_parallel()) return f();
  const int prev = omp_get_max_threads();
  if (prev == 1) return f();
  omp_set_num_threads(1);
  f();
  omp_set_num_threads(prev);
}

struct GemmCall {
  bool ta, tb;
  int64_t m, n, k;
  float alpha, beta;
  const float* a; int64_t aOff, lda; size_t alen;
  const float* b; int64_t bOff, ldb; size_t blen;
  float* c; int64_t cOff, ldc; size_t clen;
  bool fits(int64_t aExtra, int64_t bExtra, int64_t cExtra) const {
    return matrixFits(aOff + aExtra, ta ? k : m, ta ? m : k, lda, alen) &&
           matrixFits(bOff + bExtra, tb ? n : k, tb ? k : n, ldb, blen) && matrixFits(cOff + cExtra, m, n, ldc, clen);
  }
  void openblas(int64_t da, int64_t db, int64_t dc) const {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
                alpha, a + aOff + da, int(lda), b + bOff + db, int(ldb), beta, c + cOff + dc, int(ldc));
  }
  // dnnl_sgemm is row-major with the same argument meanings as cblas_sgemm(CblasRowMajor, ...).
  // k == 0 (C = beta*C) stays with OpenBLAS, as does any call oneDNN refuses.
  void dnnl(int64_t da, int64_t db, int64_t dc) const {
    if (k == 0 || dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a + aOff + da, lda, b + bOff + db, ldb, beta,
                             c + cOff + dc, ldc) != dnnl_success) {
      openblas(da, db, dc);
    }
  }
  void run(int64_t da, int64_t db, int64_t dc) const {
    if (m == 0 || n == 0) return;
    const auto call = [&] { gemmLib == GemmLib::Dnnl ? dnnl(da, db, dc) : openblas(da, db, dc); };
    if (m * n * k < kGemmSerialBelow) serially(call);
    else call();
  }
};

napi_value Gemm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GemmCall g{};
  g.ta = a.flag(0); g.tb = a.flag(1);
  g.m = a.i64(2); g.n = a.i64(3); g.k = a.i64(4);
  g.alpha = float(a.num(5));
  g.a = a.f32(6, &g.alen); g.aOff = a.i64(7); g.lda = a.i64(8);
  g.b = a.f32(9, &g.blen); g.bOff = a.i64(10); g.ldb = a.i64(11);
  g.beta = float(a.num(12));
  g.c = a.f32(13, &g.clen); g.cOff = a.i64(14); g.ldc = a.i64(15);
  if (!a.ok || g.m < 0 || g.n < 0 || g.k < 0) return a.bad("gemm");
  if (!g.fits(0, 0, 0)) return fail(env, "bigdl native gemm: a matrix lies outside its buffer (check offsets and leading dimensions)");
  g.run(0, 0, 0);
  return undefined(env);
}

napi_value GemmBatched(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int64_t batch = a.i64(0);
  GemmCall g{};
  g.ta = a.flag(1); g.tb = a.flag(2);
  g.m = a.i64(3); g.n = a.i64(4); g.k = a.i64(5);
  g.alpha = float(a.num(6));
  g.a = a.f32(7, &g.alen); g.aOff = a.i64(8);
  const int64_t sa = a.i64(9);
  g.lda = a.i64(10);
  g.b = a.f32(11, &g.blen); g.bOff = a.i64(12);
  const int64_t sb = a.i64(13);
  g.ldb = a.i64(14);
  g.beta = float(a.num(15));
  g.c = a.f32(16, &g.clen); g.cOff = a.i64(17);
  const int64_t sc = a.i64(18);
  g.ldc = a.i64(19);
  if (!a.ok || batch < 0 || g.m < 0 || g.n < 0 || g.k < 0 || sa < 0 || sb < 0 || sc < 0) return a.bad("gemmBatched");
  if (batch > 0 && (!g.fits(0, 0, 0) || !g.fits((batch - 1) * sa, (batch - 1) * sb, (batch - 1) * sc)))
    return fail(env, "bigdl native gemmBatched: a matrix lies outside its buffer (check offsets, strides and leading dimensions)");
  // Small matrices: one OpenBLAS call per thread's share of the batch beats threading each call.
  const bool small = g.m * g.n * g.k < 64 * 64 * 64;
  if (small && batch >= 2) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < batch; i++) g.run(i * sa, i * sb, i * sc);
  } else {
    for (int64_t i = 0; i < batch; i++) g.run(i * sa, i * sb, i * sc);
  }
  return undefined(env);
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int n = a.i32(0);
  if (!a.ok || n < 1) return a.bad("setThreads");
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
  return undefined(env);
}

napi_value GetThreads(napi_env env, napi_callback_info) { return number(env, omp_get_max_threads()); }

// setGemmLibrary(0 = dnnl, 1 = openblas): for measurements and parity tests of both paths.
napi_value SetGemmLibrary(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int lib = a.i32(0);
  if (!a.ok || lib < 0 || lib > 1) return a.bad("setGemmLibrary");
  gemmLib = GemmLib(lib);
  return undefined(env);
}

napi_value GetGemmLibrary(napi_env env, napi_callback_info) { return number(env, int(gemmLib)); }

}  // namespace

void registerGemm(napi_env env, napi_value exports) {
  defineFunction(env, exports, "gemm", Gemm);
  defineFunction(env, exports, "gemmBatched", GemmBatched);
  defineFunction(env, exports, "setThreads", SetThreads);
  defineFunction(env, exports, "getThreads", GetThreads);
  defineFunction(env, exports, "setGemmLibrary", SetGemmLibrary);
  defineFunction(env, exports, "getGemmLibrary", GetGemmLibrary);
}

}  // namespace bigdl
