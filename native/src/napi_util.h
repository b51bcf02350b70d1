// Thin helpers for raw N-API argument handling. Raw N-API, not node-addon-api: on the hot path
// the wrappers cost about twice as much per call (measured, see docs/ARCHITECTURE.md).
#pragma once
#include <node_api.h>
#include <cstddef>
#include <cstdint>
#include <string>

namespace bigdl {

// Throws a JS Error and returns nullptr so callers can `return fail(env, "...")`.
inline napi_value fail(napi_env env, const std::string& msg) {
  napi_throw_error(env, nullptr, msg.c_str());
  return nullptr;
}

struct Args {
  napi_env env;
  size_t argc = 24;
  napi_value argv[24];
  bool ok = true;
  Args(napi_env e, napi_callback_info info) : env(e) {
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  }
  double num(size_t i) {
    double v = 0;
    if (i >= argc || napi_get_value_double(env, argv[i], &v) != napi_ok) ok = false;
    return v;
  }
  int64_t i64(size_t i) { return static_cast<int64_t>(num(i)); }
  int i32(size_t i) { return static_cast<int>(num(i)); }
  bool flag(size_t i) {
    bool v = false;
    if (i >= argc || napi_get_value_bool(env, argv[i], &v) != napi_ok) ok = false;
    return v;
  }
  bool isNull(size_t i) {
    napi_valuetype t;
    if (i >= argc) return true;
    napi_typeof(env, argv[i], &t);
    return t == napi_null || t == napi_undefined;
  }
  // Base pointer of a typed array's visible range and its element count. Element offsets are
  // applied by the caller so that TypeScript passes (array, offset) pairs without making views.
  template <typename T>
  T* typed(size_t i, size_t* length = nullptr) {
    napi_typedarray_type type;
    size_t len = 0;
    void* data = nullptr;
    if (i >= argc || napi_get_typedarray_info(env, argv[i], &type, &len, &data, nullptr, nullptr) != napi_ok) {
      ok = false;
      return nullptr;
    }
    if (length) *length = len;
    return static_cast<T*>(data);
  }
  float* f32(size_t i, size_t* length = nullptr) { return typed<float>(i, length); }
  int32_t* i32ptr(size_t i, size_t* length = nullptr) { return typed<int32_t>(i, length); }
  uint8_t* u8(size_t i, size_t* length = nullptr) { return typed<uint8_t>(i, length); }
  // Null/undefined give nullptr without marking the call bad.
  float* f32OrNull(size_t i) { return isNull(i) ? nullptr : f32(i); }
  uint8_t* u8OrNull(size_t i) { return isNull(i) ? nullptr : u8(i); }
  napi_value bad(const char* fn) { return fail(env, std::string("bigdl native ") + fn + ": bad arguments"); }
};

inline napi_value undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}
inline napi_value number(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}
inline napi_value boolean(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

inline void defineFunction(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
  napi_set_named_property(env, exports, name, fn);
}

// Each kernel family registers its functions from its own file.
void registerCore(napi_env env, napi_value exports);
void registerGemm(napi_env env, napi_value exports);
void registerDnn(napi_env env, napi_value exports);

}  // namespace bigdl
