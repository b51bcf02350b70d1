/*
 * Reference timings for `npm run bench -- kernels`: OpenBLAS sgemm called straight from C, and
 * the machine's measured float32 FMA peak (AVX2, and AVX-512 when the CPU has it). The bench compiles this file at run time (gcc -O2
 * -fopenmp, linked to Debian's OpenMP build of OpenBLAS, the one the addon uses) and reads the
 * JSON it prints on stdout.
 *
 * usage: sgemm_ref THREADS MIN_SECONDS MIN_ITERS MAX_ITERS WARMUP
 * It first prints a JSON line with the thread count and the measured peak, then reads cases from
 * stdin, one "ta,tb,m,n,k" line each (ta/tb 0 or 1: row-major transposes as in
 * cblas_sgemm(CblasRowMajor, ...)), and answers each with one JSON line, flushed, so the bench can
 * interleave these timings with its own. It exits at end of input.
 * Timing (same method as bench/harness.ts and bench/ref/torch_kernels.py): WARMUP untimed calls,
 * then timed calls until at least MIN_SECONDS have passed and MIN_ITERS calls were made (at most
 * MAX_ITERS); each call is timed on its own and the median is reported, with the minimum.
 */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Declared here rather than taken from cblas.h: Debian only ships the header for the pthread build. */
enum { RowMajor = 101, NoTrans = 111, Trans = 112 };
extern void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, const float* a,
                        int lda, const float* b, int ldb, float beta, float* c, int ldc);
extern void openblas_set_num_threads(int n);
extern int openblas_get_num_threads(void);

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmpDouble(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

/* 12 independent FMA chains per thread: enough to cover latency x ports on current cores. */
__attribute__((target("avx2,fma"))) static float fmaLoop256(long iters, float seed) {
  __m256 acc[12];
  for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps(seed + (float)i);
  const __m256 mul = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-7f);
  for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12 /* keeps the accumulators in registers at -O2 */
    for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], mul, add);
  }
  __m256 s = acc[0];
  for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}

__attribute__((target("avx512f"))) static float fmaLoop512(long iters, float seed) {
  __m512 acc[12];
  for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps(seed + (float)i);
  const __m512 mul = _mm512_set1_ps(0.999999f), add = _mm512_set1_ps(1e-7f);
  for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(acc[i], mul, add);
  }
  __m512 s = acc[0];
  for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}

/*
 * Best of 3 rounds of all threads running an FMA loop at once; GFLOP/s over all threads.
 * lanes = 8 (AVX2) or 16 (AVX-512); each iteration is 12 FMAs of `lanes` x 2 flops.
 */
static double measurePeak(int threads, int lanes) {
  const long iters = 320000000L / lanes; /* 3.84 GFLOP per thread: ~35 ms at 110 GFLOP/s */
  float (*loop)(long, float) = lanes == 16 ? fmaLoop512 : fmaLoop256;
  double best = 0;
  volatile float sink = 0;
  sink += loop(iters / 10, 1.0f);
  for (int round = 0; round < 3; round++) {
    double t0 = now();
    float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    total += loop(iters, (float)omp_get_thread_num());
    double dt = now() - t0;
    sink += total;
    double gflops = (double)iters * 12 * lanes * 2 * threads / dt / 1e9;
    if (gflops > best) best = gflops;
  }
  return best;
}

static float* randomMatrix(long count, unsigned* state) {
  float* p = aligned_alloc(64, (size_t)((count * 4 + 63) / 64 * 64));
  if (!p) {
    fprintf(stderr, "sgemm_ref: out of memory\n");
    exit(1);
  }
  for (long i = 0; i < count; i++) {
    *state = *state * 1664525u + 1013904223u;
    p[i] = (float)(*state >> 8) / 16777216.0f * 2.0f - 1.0f;
  }
  return p;
}

int main(int argc, char** argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: sgemm_ref THREADS MIN_SECONDS MIN_ITERS MAX_ITERS WARMUP < cases (ta,tb,m,n,k per line)\n");
    return 2;
  }
  const int threads = atoi(argv[1]);
  const double minSeconds = atof(argv[2]);
  const int minIters = atoi(argv[3]), maxIters = atoi(argv[4]), warmup = atoi(argv[5]);
  if (threads < 1 || minIters < 1 || maxIters < minIters || warmup < 0) {
    fprintf(stderr, "sgemm_ref: bad THREADS/MIN_ITERS/MAX_ITERS/WARMUP\n");
    return 2;
  }
  openblas_set_num_threads(threads);
  omp_set_num_threads(threads);
  const double peak = measurePeak(threads, 8);
  __builtin_cpu_init();
  const double peak512 = __builtin_cpu_supports("avx512f") ? measurePeak(threads, 16) : -1;
  double* times = malloc(sizeof(double) * (size_t)maxIters);
  unsigned state = 12345;

  printf("{\"threads\":%d,\"openblasThreads\":%d,\"measuredPeakGflops\":%.3f,", threads, openblas_get_num_threads(), peak);
  if (peak512 > 0) printf("\"measuredPeakAvx512Gflops\":%.3f}\n", peak512);
  else printf("\"measuredPeakAvx512Gflops\":null}\n");
  fflush(stdout);
  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    int ta, tb, m, n, k;
    if (line[0] == '\n') continue;
    if (sscanf(line, "%d,%d,%d,%d,%d", &ta, &tb, &m, &n, &k) != 5 || m < 1 || n < 1 || k < 1) {
      fprintf(stderr, "sgemm_ref: bad case '%s' (want ta,tb,m,n,k)\n", line);
      return 2;
    }
    /* Stored shapes: A is m x k (k x m when transposed), B is k x n (n x k when transposed). */
    const int lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
    float* a = randomMatrix((long)m * k, &state);
    float* b = randomMatrix((long)k * n, &state);
    float* c = randomMatrix((long)m * n, &state);
    const int opA = ta ? Trans : NoTrans, opB = tb ? Trans : NoTrans;
    for (int i = 0; i < warmup; i++) cblas_sgemm(RowMajor, opA, opB, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
    int count = 0;
    const double start = now();
    while (count < maxIters && (count < minIters || now() - start < minSeconds)) {
      const double t0 = now();
      cblas_sgemm(RowMajor, opA, opB, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
      times[count++] = now() - t0;
    }
    qsort(times, (size_t)count, sizeof(double), cmpDouble);
    const double median = count % 2 ? times[count / 2] : 0.5 * (times[count / 2 - 1] + times[count / 2]);
    printf("{\"ta\":%d,\"tb\":%d,\"m\":%d,\"n\":%d,\"k\":%d,\"iters\":%d,\"medianMs\":%.6f,\"minMs\":%.6f}\n", ta, tb,
           m, n, k, count, median * 1e3, times[0] * 1e3);
    fflush(stdout);
    free(a);
    free(b);
    free(c);
  }
  free(times);
  return 0;
}
