// Shared by the DNN kernel files (dnn.cc, dnn_conv.cc, dnn_pool.cc, dnn_norm.cc): the oneDNN
// engine and stream, the per-geometry primitive cache, argument checking and error reporting.
#pragma once
#include <omp.h>

#include <array>
#include <cstdint>
#include <dnnl.hpp>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "napi_util.h"

namespace bigdl {
namespace dnn {

using dnnl::memory;
using Tag = memory::format_tag;
using DT = memory::data_type;
using ArgMap = std::unordered_map<int, memory>;

inline dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
inline dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

// A cache key: the op, its layout choice, every integer of its geometry and the
// thread count, which oneDNN fixes when it creates a primitive (setThreads later must not run
// primitives planned for another count).
using Key = std::array<int64_t, 20>;
constexpr size_t kMaxEntries = 256;  // per cache; cleared wholesale beyond this (shapes are few)

// The entry for `key`, built by `build(entry)` on a miss. A failed build leaves no entry behind.
template <typename Entry, typename Build>
Entry& cached(std::map<Key, std::unique_ptr<Entry>>& cache, const Key& key, Build&& build) {
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  auto e = std::make_unique<Entry>();
  build(*e);
  if (cache.size() >= kMaxEntries) cache.clear();
  Entry& ref = *e;
  cache.emplace(key, std::move(e));
  return ref;
}

// Blocked-layout copies of convolution operands live in three growable, 64-byte aligned buffers
// per JS thread, shared by every cached convolution (only one runs at a time): memory grows to

// ---- argument helpers ----

// Typed array `i` of the given type: base pointer and element count, or nullptr.
inline void* typedArray(Args& a, size_t i, napi_typedarray_type want, size_t* len) {
  napi_typedarray_type type;
  void* data = nullptr;
  if (i >= a.argc || napi_get_typedarray_info(a.env, a.argv[i], &type, len, &data, nullptr, nullptr) != napi_ok ||
      type != want)
    return nullptr;
  return data;
}

// Float operand at arguments (arr, arr+1) = (Float32Array, element offset) that must hold `count`
// elements. Sets `err` (first failure wins) and returns nullptr when it does not.
inline float* operand(Args& a, size_t arr, int64_t count, const char* name, std::string& err, bool nullable = false) {
  if (nullable && a.isNull(arr)) return nullptr;
  size_t len = 0;
  float* base = static_cast<float*>(typedArray(a, arr, napi_float32_array, &len));
  double off = 0;
  const bool offOk = arr + 1 < a.argc && napi_get_value_double(a.env, a.argv[arr + 1], &off) == napi_ok;
  if (!err.empty()) return nullptr;
  if (base == nullptr) {
    err = std::string(name) + " must be a Float32Array";
  } else if (!offOk || !(off >= 0) || off != double(int64_t(off))) {
    err = std::string(name) + " offset must be a non-negative integer";
  } else if (int64_t(off) + count > int64_t(len)) {
    err = std::string(name) + " needs " + std::to_string(count) + " elements from offset " +
          std::to_string(int64_t(off)) + " but its array has " + std::to_string(len);
  } else {
    return base + int64_t(off);
  }
  return nullptr;
}

// Workspace operand (Uint8Array or null) that must hold `bytes` when present.
inline uint8_t* workspace(Args& a, size_t i, size_t bytes, std::string& err) {
  if (a.isNull(i)) return nullptr;
  size_t len = 0;
  uint8_t* p = static_cast<uint8_t*>(typedArray(a, i, napi_uint8_array, &len));
  if (p == nullptr) {
    if (err.empty()) err = "workspace must be a Uint8Array or null";
    return nullptr;
  }
  if (len < bytes) {
    if (err.empty()) err = "workspace has " + std::to_string(len) + " bytes, needs " + std::to_string(bytes);
    return nullptr;
  }
  return p;
}

// The Int32Array of packed geometry in argument 0.
inline const int32_t* geometry(Args& a, size_t need) {
  size_t len = 0;
  const int32_t* g = static_cast<const int32_t*>(typedArray(a, 0, napi_int32_array, &len));
  if (g == nullptr || len < need) {
    a.ok = false;
    return nullptr;
  }
  return g;
}

inline napi_value opError(napi_env env, const char* op, const std::string& geo, const std::string& what) {
  return fail(env, std::string("bigdl native ") + op + " (" + geo + "): " + what);
}

// Runs `body`, turning oneDNN and allocation failures into a JS error naming the op and its
// geometry (`describe()` is only called on failure, so the hot path builds no strings).
template <typename F, typename D>
napi_value guarded(napi_env env, const char* op, D&& describe, F&& body) {
  try {
    body();
    stream().wait();
  } catch (const dnnl::error& e) {
    return opError(env, op, describe(), std::string("oneDNN error: ") + e.what());
  } catch (const std::exception& e) {
    return opError(env, op, describe(), e.what());
  }
  return undefined(env);
}

// Sum of n floats with 16 independent partial sums, so the compiler can vectorise it without
// -ffast-math (a single running sum is one long dependency chain).
inline float rowSum(const float* r, int64_t n) {
  float acc[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) acc[j] += r[i + j];
  float s = 0;
  for (; i < n; i++) s += r[i];
  for (int j = 0; j < 16; j++) s += acc[j];
  return s;
}

// Each file registers its own entry points.
void registerConv(napi_env env, napi_value exports);
void registerPool(napi_env env, napi_value exports);
void registerNorm(napi_env env, napi_value exports);

}  // namespace dnn
}  // namespace bigdl
