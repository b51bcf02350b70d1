// Convolution through oneDNN 2.6: forward, data gradient, weight (and bias) gradient on NCHW data
// with OIHW (grouped: GOIHW) weights. See dnn.cc for the rules every kernel file follows.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "dnn_util.h"

namespace bigdl {
namespace dnn {
namespace {

struct Scratch {
  void* p = nullptr;
  size_t size = 0;
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(p); }
  void* get(size_t bytes) {
    if (bytes > size) {
      std::free(p);
      p = nullptr;
      size = 0;
      const size_t rounded = (bytes + 63) / 64 * 64;
      p = std::aligned_alloc(64, rounded);
      if (!p) throw std::bad_alloc();
      size = rounded;
    }
    return p;
  }
};
thread_local Scratch scratchSlots[3];

// One operand at the boundary between the caller's plain buffer and what the primitive wants.
// `user` wraps the caller's memory (handle set per call); `inner` is either the same object or a
// scratch slot in the primitive's preferred layout, with a reorder between the two.
struct Edge {
  memory user, inner;
  dnnl::reorder r;
  bool reorders = false;
  int slot = 0;
  size_t bytes = 0;
  void init(const memory::desc& userMd, const memory::desc& innerMd, bool input, int scratchSlot) {
    user = memory(userMd, engine(), DNNL_MEMORY_NONE);
    if (userMd != innerMd) {
      inner = memory(innerMd, engine(), DNNL_MEMORY_NONE);
      reorders = true;
      slot = scratchSlot;
      bytes = innerMd.get_size();
      r = input ? dnnl::reorder(user, inner) : dnnl::reorder(inner, user);
    } else {
      inner = user;
    }
  }
  void bind(const void* p) {
    user.set_data_handle(const_cast<void*>(p));
    if (reorders) inner.set_data_handle(scratchSlots[slot].get(bytes));
  }
  void pull() {
    if (reorders) r.execute(stream(), user, inner);
  }
  void push() {
    if (reorders) r.execute(stream(), inner, user);
  }
};

// ---- convolution ------------------------------------------------------------------------------

// Packed by src/backend/native/dnn.ts: n c h w oc kh kw strideH strideW padH padW dilationH dilationW groups oh ow
struct ConvGeo {
  int64_t n, c, h, w, oc, kh, kw, sh, sw, ph, pw, dh, dw, g, oh, ow;
  explicit ConvGeo(const int32_t* p)
      : n(p[0]), c(p[1]), h(p[2]), w(p[3]), oc(p[4]), kh(p[5]), kw(p[6]), sh(p[7]), sw(p[8]), ph(p[9]), pw(p[10]),
        dh(p[11]), dw(p[12]), g(p[13]), oh(p[14]), ow(p[15]) {}
  std::string str() const {
    return "n=" + std::to_string(n) + " c=" + std::to_string(c) + " h=" + std::to_string(h) + " w=" + std::to_string(w) +
           " oc=" + std::to_string(oc) + " kernel=" + std::to_string(kh) + "x" + std::to_string(kw) +
           " stride=" + std::to_string(sh) + "x" + std::to_string(sw) + " pad=" + std::to_string(ph) + "x" +
           std::to_string(pw) + " dilation=" + std::to_string(dh) + "x" + std::to_string(dw) +
           " groups=" + std::to_string(g) + " out=" + std::to_string(oh) + "x" + std::to_string(ow);
  }
  // Empty when consistent, else what is wrong.
  std::string check() const {
    if (n < 1 || c < 1 || h < 1 || w < 1 || oc < 1 || kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0 ||
        dh < 1 || dw < 1 || g < 1 || oh < 1 || ow < 1)
      return "every size must be positive (padding non-negative)";
    if (c % g != 0 || oc % g != 0) return "groups must divide both channel counts";
    if (oh != (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1 || ow != (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1)
      return "output size does not match the geometry";
    return "";
  }
  int64_t xSize() const { return n * c * h * w; }
  int64_t ySize() const { return n * oc * oh * ow; }
  int64_t wSize() const { return oc * (c / g) * kh * kw; }
  memory::desc srcMd(Tag t) const { return memory::desc({n, c, h, w}, DT::f32, t); }
  memory::desc dstMd(Tag t) const { return memory::desc({n, oc, oh, ow}, DT::f32, t); }
  memory::desc weiMd(bool any) const {
    if (g == 1) return memory::desc({oc, c, kh, kw}, DT::f32, any ? Tag::any : Tag::oihw);
    return memory::desc({g, oc / g, c / g, kh, kw}, DT::f32, any ? Tag::any : Tag::goihw);
  }
  memory::desc biasMd() const { return memory::desc({oc}, DT::f32, Tag::x); }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims dilation() const { return {dh - 1, dw - 1}; }
  memory::dims padL() const { return {ph, pw}; }
  // Symmetric: oneDNN checks (h - ker + padL + padR) / stride + 1 == oh with floor division,
  // exactly the formula the tensor layer uses.
  memory::dims padR() const { return {ph, pw}; }
};

enum ConvOp { kConvFwd = 0, kConvBwdData = 1, kConvBwdWeights = 2 };

// Layout used inside the primitive. Blocked (format `any`, reorders at the edges) is what
// oneDNN's direct JIT kernels need. Plain NCHW lets oneDNN use its GEMM-based convolution with no
// reorders. Measured at 2 threads, batch 16 (ms, plain vs blocked, fwd / bwd data / bwd weights):
//   1x1 192->64 28x28   1.46 1.44 1.76  vs  2.08 2.16 2.59
//   1x1 480->192 14x14  2.85 2.81 2.79  vs  3.62 3.46 3.56
//   1x1 832->384 7x7    3.28 3.20 2.81  vs  2.36 2.38 2.56
//   3x3 64->192 56x56   65.4 61.2 75.9  vs  52.9 58.5 62.5
//   5x5 16->32 28x28    3.48 4.75 4.74  vs  1.45 1.36 1.36
//   7x7/2 3->64 224x224 27.6 37.8 54.8  vs  20.2 97.0 23.9
// so: plain for pointwise convolutions over at least 128 positions (the reorders cost as much as
// the arithmetic there) and for the data gradient of ungrouped convolutions with few input
// channels; blocked otherwise. BIGDL_DNN_CONV_LAYOUT=blocked|plain forces one (for measuring).
enum Layout { kBlocked = 0, kPlain = 1 };

int forcedLayout() {
  static int forced = [] {
    const char* v = std::getenv("BIGDL_DNN_CONV_LAYOUT");
    if (v && std::strcmp(v, "plain") == 0) return int(kPlain);
    if (v && std::strcmp(v, "blocked") == 0) return int(kBlocked);
    return -1;
  }();
  return forced;
}

bool pointwise(const ConvGeo& p) {
  return p.kh == 1 && p.kw == 1 && p.sh == 1 && p.sw == 1 && p.ph == 0 && p.pw == 0;
}

Layout chooseLayout(const ConvGeo& p, ConvOp op) {
  const int f = forcedLayout();
  if (f >= 0) return Layout(f);
  if (pointwise(p) && p.h * p.w >= 128) return kPlain;
  if (op == kConvBwdData && p.g == 1 && p.c < 8) return kPlain;
  return kBlocked;
}

struct ConvEntry {
  dnnl::primitive prim;
  Edge a, b, out;  // fwd: src, weights, dst; bwd data: diff_dst, weights, diff_src; bwd weights: src, diff_dst, diff_weights
  memory bias;     // fwd: bias; bwd weights: diff_bias (always plain x)
  ArgMap args;
};

thread_local std::map<Key, std::unique_ptr<ConvEntry>> convCache;

Key convKey(const ConvGeo& p, ConvOp op, Layout l, bool bias) {
  return Key{op, l, bias, p.n, p.c, p.h, p.w, p.oc, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.dh, p.dw, p.g, p.oh, p.ow,
             omp_get_max_threads()};
}

dnnl::convolution_forward::primitive_desc convForwardPd(const ConvGeo& p, Layout l, bool bias) {
  const Tag t = l == kPlain ? Tag::nchw : Tag::any;
  const auto src = p.srcMd(t), dst = p.dstMd(t), wei = p.weiMd(l == kBlocked);
  using CF = dnnl::convolution_forward;
  const auto pk = dnnl::prop_kind::forward_training;
  const auto alg = dnnl::algorithm::convolution_direct;
  CF::desc d = bias ? CF::desc(pk, alg, src, wei, p.biasMd(), dst, p.strides(), p.dilation(), p.padL(), p.padR())
                    : CF::desc(pk, alg, src, wei, dst, p.strides(), p.dilation(), p.padL(), p.padR());
  return CF::primitive_desc(d, engine());
}

void buildConvForward(ConvEntry& e, const ConvGeo& p, Layout l, bool bias) {
  const auto pd = convForwardPd(p, l, bias);
  e.prim = dnnl::convolution_forward(pd);
  e.a.init(p.srcMd(Tag::nchw), pd.src_desc(), true, 0);
  e.b.init(p.weiMd(false), pd.weights_desc(), true, 1);
  e.out.init(p.dstMd(Tag::nchw), pd.dst_desc(), false, 2);
  e.args = {{DNNL_ARG_SRC, e.a.inner}, {DNNL_ARG_WEIGHTS, e.b.inner}, {DNNL_ARG_DST, e.out.inner}};
  if (bias) {
    e.bias = memory(pd.bias_desc(), engine(), DNNL_MEMORY_NONE);
    e.args[DNNL_ARG_BIAS] = e.bias;
  }
}

void buildConvBackwardData(ConvEntry& e, const ConvGeo& p, Layout l) {
  const Tag t = l == kPlain ? Tag::nchw : Tag::any;
  using CB = dnnl::convolution_backward_data;
  const auto hint = convForwardPd(p, l, false);
  CB::desc d(dnnl::algorithm::convolution_direct, p.srcMd(t), p.weiMd(l == kBlocked), p.dstMd(t), p.strides(),
             p.dilation(), p.padL(), p.padR());
  const CB::primitive_desc pd(d, engine(), hint);
  e.prim = CB(pd);
  e.a.init(p.dstMd(Tag::nchw), pd.diff_dst_desc(), true, 0);
  e.b.init(p.weiMd(false), pd.weights_desc(), true, 1);
  e.out.init(p.srcMd(Tag::nchw), pd.diff_src_desc(), false, 2);
  e.args = {{DNNL_ARG_DIFF_DST, e.a.inner}, {DNNL_ARG_WEIGHTS, e.b.inner}, {DNNL_ARG_DIFF_SRC, e.out.inner}};
}

void buildConvBackwardWeights(ConvEntry& e, const ConvGeo& p, Layout l, bool bias) {
  const Tag t = l == kPlain ? Tag::nchw : Tag::any;
  using CB = dnnl::convolution_backward_weights;
  const auto hint = convForwardPd(p, l, bias);
  const auto alg = dnnl::algorithm::convolution_direct;
  const auto src = p.srcMd(t), dst = p.dstMd(t), wei = p.weiMd(l == kBlocked);
  CB::desc d = bias ? CB::desc(alg, src, wei, p.biasMd(), dst, p.strides(), p.dilation(), p.padL(), p.padR())
                    : CB::desc(alg, src, wei, dst, p.strides(), p.dilation(), p.padL(), p.padR());
  const CB::primitive_desc pd(d, engine(), hint);
  e.prim = CB(pd);
  e.a.init(p.srcMd(Tag::nchw), pd.src_desc(), true, 0);
  e.b.init(p.dstMd(Tag::nchw), pd.diff_dst_desc(), true, 1);
  e.out.init(p.weiMd(false), pd.diff_weights_desc(), false, 2);
  e.args = {{DNNL_ARG_SRC, e.a.inner}, {DNNL_ARG_DIFF_DST, e.b.inner}, {DNNL_ARG_DIFF_WEIGHTS, e.out.inner}};
  if (bias) {
    e.bias = memory(pd.diff_bias_desc(), engine(), DNNL_MEMORY_NONE);
    e.args[DNNL_ARG_DIFF_BIAS] = e.bias;
  }
}

// conv2dForward(geo, x, xOff, w, wOff, b|null, bOff, y, yOff)
napi_value Conv2dForward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int32_t* g = geometry(a, 16);
  if (!g) return a.bad("conv2dForward");
  const ConvGeo p(g);
  std::string err = p.check();
  const float* x = operand(a, 1, p.xSize(), "input", err);
  const float* w = operand(a, 3, p.wSize(), "weight", err);
  const float* b = operand(a, 5, p.oc, "bias", err, true);
  float* y = operand(a, 7, p.ySize(), "output", err);
  if (!err.empty()) return opError(env, "conv2dForward", p.str(), err);
  return guarded(env, "conv2dForward", [&] { return p.str(); }, [&] {
    const Layout l = chooseLayout(p, kConvFwd);
    const bool bias = b != nullptr;
    ConvEntry& e = cached(convCache, convKey(p, kConvFwd, l, bias), [&](ConvEntry& n) { buildConvForward(n, p, l, bias); });
    e.a.bind(x);
    e.b.bind(w);
    e.out.bind(y);
    if (bias) e.bias.set_data_handle(const_cast<float*>(b));
    e.a.pull();
    e.b.pull();
    e.prim.execute(stream(), e.args);
    e.out.push();
  });
}

// conv2dBackwardData(geo, gy, gyOff, w, wOff, gx, gxOff)
napi_value Conv2dBackwardData(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int32_t* g = geometry(a, 16);
  if (!g) return a.bad("conv2dBackwardData");
  const ConvGeo p(g);
  std::string err = p.check();
  const float* gy = operand(a, 1, p.ySize(), "gradOutput", err);
  const float* w = operand(a, 3, p.wSize(), "weight", err);
  float* gx = operand(a, 5, p.xSize(), "gradInput", err);
  if (!err.empty()) return opError(env, "conv2dBackwardData", p.str(), err);
  return guarded(env, "conv2dBackwardData", [&] { return p.str(); }, [&] {
    const Layout l = chooseLayout(p, kConvBwdData);
    ConvEntry& e = cached(convCache, convKey(p, kConvBwdData, l, false), [&](ConvEntry& n) { buildConvBackwardData(n, p, l); });
    e.a.bind(gy);
    e.b.bind(w);
    e.out.bind(gx);
    e.a.pull();
    e.b.pull();
    e.prim.execute(stream(), e.args);
    e.out.push();
  });
}

thread_local std::vector<float> pointwisePartials;

// Weight (and bias) gradient of a 1x1, stride-1, unpadded convolution on plain NCHW data: per
// image and group, gw_g += gy_g [og x hw] . x_g^T [hw x cg], a GEMM with no reorders at all.
// oneDNN's GEMM-based primitive threads each of these small GEMMs (2.3-3.1 ms on the Inception
// 1x1 192->64 28x28 batch-16 shape, 2 threads); giving each thread whole images with
// single-threaded dnnl_sgemm calls and summing the per-thread partials takes ~1.9 ms, against
// 1.7 ms + 0.8 ms of reorders for the blocked JIT kernel.
void pointwiseBackwardWeights(const ConvGeo& p, const float* x, const float* gy, float* gw, float* gb) {
  const int64_t hw = p.h * p.w, cg = p.c / p.g, og = p.oc / p.g, wsz = p.oc * cg;
  const int threads = omp_get_max_threads();
  dnnl_status_t status = dnnl_success;
  if (p.n < threads) {
    // too few images to split: let each GEMM use every thread
    for (int64_t n = 0; n < p.n && status == dnnl_success; n++)
      for (int64_t g = 0; g < p.g && status == dnnl_success; g++)
        status = dnnl_sgemm('N', 'T', og, cg, hw, 1.f, gy + (n * p.oc + g * og) * hw, hw, x + (n * p.c + g * cg) * hw, hw,
                            n == 0 ? 0.f : 1.f, gw + g * og * cg, cg);
    if (gb) {
      for (int64_t o = 0; o < p.oc; o++) {
        float s = 0;
        for (int64_t n = 0; n < p.n; n++) s += rowSum(gy + (n * p.oc + o) * hw, hw);
        gb[o] = s;
      }
    }
  } else {
    const int64_t stride = wsz + p.oc;
    std::vector<float>& part = pointwisePartials;
    if (part.size() < size_t(threads * stride)) part.resize(size_t(threads * stride));
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      float* pw = part.data() + t * stride;
      float* pb = pw + wsz;
      std::fill(pw, pw + stride, 0.f);
      for (int64_t n = t; n < p.n; n += nt) {
        for (int64_t g = 0; g < p.g; g++) {
          const float* gyg = gy + (n * p.oc + g * og) * hw;
          const dnnl_status_t st = dnnl_sgemm('N', 'T', og, cg, hw, 1.f, gyg, hw, x + (n * p.c + g * cg) * hw, hw, 1.f,
                                              pw + g * og * cg, cg);
          if (st != dnnl_success) {
#pragma omp critical
            status = st;
          }
          if (gb) {
            for (int64_t o = 0; o < og; o++) pb[g * og + o] += rowSum(gyg + o * hw, hw);
          }
        }
      }
#pragma omp barrier
#pragma omp for schedule(static)
      for (int64_t i = 0; i < stride; i++) {
        if (i >= wsz && !gb) continue;
        float s = 0;
        for (int u = 0; u < nt; u++) s += part[u * stride + i];
        if (i < wsz) gw[i] = s;
        else gb[i - wsz] = s;
      }
    }
  }
  if (status != dnnl_success) throw dnnl::error(status, "dnnl_sgemm failed");
}

// conv2dBackwardWeights(geo, x, xOff, gy, gyOff, gw, gwOff, gb|null, gbOff)
napi_value Conv2dBackwardWeights(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int32_t* g = geometry(a, 16);
  if (!g) return a.bad("conv2dBackwardWeights");
  const ConvGeo p(g);
  std::string err = p.check();
  const float* x = operand(a, 1, p.xSize(), "input", err);
  const float* gy = operand(a, 3, p.ySize(), "gradOutput", err);
  float* gw = operand(a, 5, p.wSize(), "gradWeight", err);
  float* gb = operand(a, 7, p.oc, "gradBias", err, true);
  if (!err.empty()) return opError(env, "conv2dBackwardWeights", p.str(), err);
  return guarded(env, "conv2dBackwardWeights", [&] { return p.str(); }, [&] {
    const Layout l = chooseLayout(p, kConvBwdWeights);
    const bool bias = gb != nullptr;
    if (l == kPlain && pointwise(p)) return pointwiseBackwardWeights(p, x, gy, gw, gb);
    ConvEntry& e = cached(convCache, convKey(p, kConvBwdWeights, l, bias),
                          [&](ConvEntry& n) { buildConvBackwardWeights(n, p, l, bias); });
    e.a.bind(x);
    e.b.bind(gy);
    e.out.bind(gw);
    if (bias) e.bias.set_data_handle(gb);
    e.a.pull();
    e.b.pull();
    e.prim.execute(stream(), e.args);
    e.out.push();
  });
}

}  // namespace

void registerConv(napi_env env, napi_value exports) {
  defineFunction(env, exports, "conv2dForward", Conv2dForward);
  defineFunction(env, exports, "conv2dBackwardData", Conv2dBackwardData);
  defineFunction(env, exports, "conv2dBackwardWeights", Conv2dBackwardWeights);
}

}  // namespace dnn
}  // namespace bigdl
