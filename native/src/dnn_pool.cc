// Max and average pooling through oneDNN 2.6 on plain NCHW data (no reorders: its JIT pooling
// handles NCHW directly). Ceil mode arrives as padBottom/padRight beyond padTop/padLeft, which
// oneDNN takes as asymmetric padding.

#include "dnn_util.h"

namespace bigdl {
namespace dnn {
namespace {

// ---- pooling ----------------------------------------------------------------------------------

enum PoolKindCode { kMax = 0, kAvgInclude = 1, kAvgExclude = 2 };

// Packed by dnn.ts: kind n c h w kh kw strideH strideW padTop padLeft padBottom padRight oh ow
struct PoolGeo {
  int64_t kind, n, c, h, w, kh, kw, sh, sw, pt, pl, pb, pr, oh, ow;
  explicit PoolGeo(const int32_t* p)
      : kind(p[0]), n(p[1]), c(p[2]), h(p[3]), w(p[4]), kh(p[5]), kw(p[6]), sh(p[7]), sw(p[8]), pt(p[9]), pl(p[10]),
        pb(p[11]), pr(p[12]), oh(p[13]), ow(p[14]) {}
  std::string str() const {
    static const char* kinds[] = {"max", "avg(include pad)", "avg(exclude pad)"};
    return std::string(kind >= 0 && kind <= 2 ? kinds[kind] : "?") + " n=" + std::to_string(n) + " c=" +
           std::to_string(c) + " h=" + std::to_string(h) + " w=" + std::to_string(w) + " kernel=" + std::to_string(kh) +
           "x" + std::to_string(kw) + " stride=" + std::to_string(sh) + "x" + std::to_string(sw) +
           " pad(t,l,b,r)=" + std::to_string(pt) + "," + std::to_string(pl) + "," + std::to_string(pb) + "," +
           std::to_string(pr) + " out=" + std::to_string(oh) + "x" + std::to_string(ow);
  }
  std::string check() const {
    if (kind < 0 || kind > 2) return "unknown pooling kind";
    if (n < 1 || c < 1 || h < 1 || w < 1 || kh < 1 || kw < 1 || sh < 1 || sw < 1 || oh < 1 || ow < 1 || pt < 0 ||
        pl < 0 || pb < 0 || pr < 0)
      return "every size must be positive (padding non-negative)";
    if (h + pt + pb < kh || w + pl + pr < kw || oh != (h + pt + pb - kh) / sh + 1 || ow != (w + pl + pr - kw) / sw + 1)
      return "output size does not match the geometry";
    return "";
  }
  int64_t xSize() const { return n * c * h * w; }
  int64_t ySize() const { return n * c * oh * ow; }
  dnnl::algorithm alg() const {
    return kind == kMax         ? dnnl::algorithm::pooling_max
           : kind == kAvgInclude ? dnnl::algorithm::pooling_avg_include_padding
                                 : dnnl::algorithm::pooling_avg_exclude_padding;
  }
  memory::desc srcMd() const { return memory::desc({n, c, h, w}, DT::f32, Tag::nchw); }
  memory::desc dstMd() const { return memory::desc({n, c, oh, ow}, DT::f32, Tag::nchw); }
  dnnl::pooling_forward::primitive_desc forwardPd(dnnl::prop_kind pk) const {
    dnnl::pooling_forward::desc d(pk, alg(), srcMd(), dstMd(), {sh, sw}, {kh, kw}, {pt, pl}, {pb, pr});
    return dnnl::pooling_forward::primitive_desc(d, engine());
  }
  Key key() const { return Key{kind, n, c, h, w, kh, kw, sh, sw, pt, pl, pb, pr, oh, ow, omp_get_max_threads(), 0, 0, 0, 0}; }
};

// Forward (inference and training) and backward primitives of one geometry, created on first use.
struct PoolEntry {
  bool hasInfer = false, hasTrain = false, hasBwd = false;
  dnnl::pooling_forward::primitive_desc trainPd;
  dnnl::primitive infer, train, bwd;
  memory src, dst, diffDst, diffSrc, ws;  // user memories, handles set per call
  size_t wsBytes = 0;
  ArgMap inferArgs, trainArgs, bwdArgs;

  void ensureTrain(const PoolGeo& p) {
    if (hasTrain) return;
    trainPd = p.forwardPd(dnnl::prop_kind::forward_training);
    train = dnnl::pooling_forward(trainPd);
    src = memory(p.srcMd(), engine(), DNNL_MEMORY_NONE);
    dst = memory(p.dstMd(), engine(), DNNL_MEMORY_NONE);
    wsBytes = trainPd.workspace_desc().get_size();
    trainArgs = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
    if (wsBytes > 0) {
      ws = memory(trainPd.workspace_desc(), engine(), DNNL_MEMORY_NONE);
      trainArgs[DNNL_ARG_WORKSPACE] = ws;
    }
    hasTrain = true;
  }
  void ensureInfer(const PoolGeo& p) {
    if (hasInfer) return;
    ensureTrain(p);
    infer = dnnl::pooling_forward(p.forwardPd(dnnl::prop_kind::forward_inference));
    inferArgs = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
    hasInfer = true;
  }
  void ensureBwd(const PoolGeo& p) {
    if (hasBwd) return;
    ensureTrain(p);
    dnnl::pooling_backward::desc d(p.alg(), p.srcMd(), p.dstMd(), {p.sh, p.sw}, {p.kh, p.kw}, {p.pt, p.pl}, {p.pb, p.pr});
    dnnl::pooling_backward::primitive_desc pd(d, engine(), trainPd);
    bwd = dnnl::pooling_backward(pd);
    diffDst = memory(p.dstMd(), engine(), DNNL_MEMORY_NONE);
    diffSrc = memory(p.srcMd(), engine(), DNNL_MEMORY_NONE);
    bwdArgs = {{DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_DIFF_SRC, diffSrc}};
    if (wsBytes > 0) bwdArgs[DNNL_ARG_WORKSPACE] = ws;
    hasBwd = true;
  }
};

thread_local std::map<Key, std::unique_ptr<PoolEntry>> poolCache;

PoolEntry& poolEntry(const PoolGeo& p) {
  return cached(poolCache, p.key(), [&](PoolEntry& e) { e.ensureTrain(p); });
}

// pool2dWorkspaceBytes(geo) -> bytes the forward must keep for the backward (0 for average pooling)
napi_value Pool2dWorkspaceBytes(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int32_t* g = geometry(a, 15);
  if (!g) return a.bad("pool2dWorkspaceBytes");
  const PoolGeo p(g);
  const std::string err = p.check();
  if (!err.empty()) return opError(env, "pool2dWorkspaceBytes", p.str(), err);
  size_t bytes = 0;
  napi_value r = guarded(env, "pool2dWorkspaceBytes", [&] { return p.str(); }, [&] { bytes = poolEntry(p).wsBytes; });
  return r == nullptr ? r : number(env, double(bytes));
}

// pool2dForward(geo, x, xOff, y, yOff, workspace|null). With a workspace (max pooling) this is
// the training forward that records the argmax; without one, the inference forward.
napi_value Pool2dForward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int32_t* g = geometry(a, 15);
  if (!g) return a.bad("pool2dForward");
  const PoolGeo p(g);
  std::string err = p.check();
  const float* x = operand(a, 1, p.xSize(), "input", err);
  float* y = operand(a, 3, p.ySize(), "output", err);
  if (!err.empty()) return opError(env, "pool2dForward", p.str(), err);
  return guarded(env, "pool2dForward", [&] { return p.str(); }, [&] {
    PoolEntry& e = poolEntry(p);
    std::string werr;
    uint8_t* ws = e.wsBytes > 0 ? workspace(a, 5, e.wsBytes, werr) : nullptr;
    if (!werr.empty()) throw std::runtime_error(werr);
    e.src.set_data_handle(const_cast<float*>(x));
    e.dst.set_data_handle(y);
    if (ws) {
      e.ws.set_data_handle(ws);
      e.train.execute(stream(), e.trainArgs);
    } else {
      e.ensureInfer(p);
      e.infer.execute(stream(), e.inferArgs);
    }
  });
}

// pool2dBackward(geo, gy, gyOff, gx, gxOff, workspace|null)
napi_value Pool2dBackward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int32_t* g = geometry(a, 15);
  if (!g) return a.bad("pool2dBackward");
  const PoolGeo p(g);
  std::string err = p.check();
  const float* gy = operand(a, 1, p.ySize(), "gradOutput", err);
  float* gx = operand(a, 3, p.xSize(), "gradInput", err);
  if (!err.empty()) return opError(env, "pool2dBackward", p.str(), err);
  return guarded(env, "pool2dBackward", [&] { return p.str(); }, [&] {
    PoolEntry& e = poolEntry(p);
    e.ensureBwd(p);
    if (e.wsBytes > 0) {
      std::string werr;
      uint8_t* ws = workspace(a, 5, e.wsBytes, werr);
      if (!werr.empty()) throw std::runtime_error(werr);
      if (!ws) throw std::runtime_error("max pooling backward needs the workspace its training forward filled");
      e.ws.set_data_handle(ws);
    }
    e.diffDst.set_data_handle(const_cast<float*>(gy));
    e.diffSrc.set_data_handle(gx);
    e.bwd.execute(stream(), e.bwdArgs);
  });
}

}  // namespace

void registerPool(napi_env env, napi_value exports) {
  defineFunction(env, exports, "pool2dWorkspaceBytes", Pool2dWorkspaceBytes);
  defineFunction(env, exports, "pool2dForward", Pool2dForward);
  defineFunction(env, exports, "pool2dBackward", Pool2dBackward);
}

}  // namespace dnn
}  // namespace bigdl
