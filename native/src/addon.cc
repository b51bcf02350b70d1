// Module entry: collects the kernel families. No logic lives here.
#include "napi_util.h"

static napi_value Init(napi_env env, napi_value exports) {
  bigdl::registerCore(env, exports);
  bigdl::registerGemm(env, exports);
  bigdl::registerDnn(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
