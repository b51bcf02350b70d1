// Deep-learning kernels on NCHW float32 data: convolution (dnn_conv.cc), pooling (dnn_pool.cc),
// LRN and batch normalisation (dnn_norm.cc), with shared helpers in dnn_util.h.
//
// Semantics are defined by src/backend/reference/dnn.ts; these files only make them fast.
// TypeScript owns every tensor buffer: each entry point reads and writes the typed arrays it is
// given (pointer + element offset, type- and bounds-checked) and nothing else; argument orders
// are listed in src/backend/native/dnn.ts.
//
// Convolution and pooling go through oneDNN 2.6 (C++ API). Their primitives and primitive
// descriptors are cached per geometry and thread count, so a repeated call with the same shape
// creates nothing; convolution reorders between the caller's NCHW/OIHW buffers and oneDNN's
// blocked layouts through scratch buffers that grow once and are reused. The max-pooling
// workspace, which must survive from a forward to its backward, is a Uint8Array owned by the
// caller, never by the cache, because several layers of one shape may interleave.
// LRN and batch norm are our own OpenMP loops: oneDNN 2.6 has only slow generic implementations
// of them for plain NCHW (figures in dnn_norm.cc).
//
// Caches and scratch are thread_local: each JS thread (main or worker) has its own. oneDNN's
// library scratchpad is thread-local too, so concurrent JS threads are safe. oneDNN failures
// become JS errors naming the op and its geometry.
#include "dnn_util.h"

namespace bigdl {

void registerDnn(napi_env env, napi_value exports) {
  dnn::registerConv(env, exports);
  dnn::registerPool(env, exports);
  dnn::registerNorm(env, exports);
}

}  // namespace bigdl
