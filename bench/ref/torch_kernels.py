"""PyTorch CPU reference timings for `npm run bench -- kernels`.

usage: python3 torch_kernels.py '{"threads": N, "minSeconds": s, "minIters": i, "maxIters": j, "warmup": w}'
First prints one JSON line {"torch": version, "threads": .., "mkldnn": ..}, then reads one JSON
case per line from stdin and answers each with one JSON line (flushed), so the bench can
interleave these timings with its own; exits at end of input. Cases:
  {"gemm": {"ta": bool, "tb": bool, "m": .., "n": .., "k": ..}}  -> {"iters", "medianMs", "minMs"}
  {"conv": {"n","c","h","w","oc","kh","kw","strideH","strideW","padH","padW","dilationH",
            "dilationW","groups"}}  -> {"forward": {...}, "backwardData": {...}, "backwardWeights": {...}}

Timing is the same as bench/harness.ts and bench/ref/sgemm_ref.c: `warmup` untimed calls, then
timed calls until at least minSeconds have passed and minIters calls were made (at most
maxIters), each call timed on its own; the median is reported, with the minimum.
GEMMs run torch.mm on transposed views into a preallocated output (row-major NT/NN/TN like
cblas); convolution runs F.conv2d (with bias) and aten.convolution_backward with output_mask
selecting the data gradient only, or the weight and bias gradients only.
"""
import json
import sys
import time

import torch
import torch.nn.functional as F


def measure(fn, cfg):
    for _ in range(cfg["warmup"]):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < cfg["maxIters"] and (
        len(times) < cfg["minIters"] or time.perf_counter() - start < cfg["minSeconds"]
    ):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    n = len(times)
    median = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
    return {"iters": n, "medianMs": median * 1e3, "minMs": times[0] * 1e3}


def gemm_case(g, cfg):
    m, n, k = g["m"], g["n"], g["k"]
    a = torch.rand(k, m) * 2 - 1 if g["ta"] else torch.rand(m, k) * 2 - 1
    b = torch.rand(n, k) * 2 - 1 if g["tb"] else torch.rand(k, n) * 2 - 1
    av = a.t() if g["ta"] else a
    bv = b.t() if g["tb"] else b
    c = torch.empty(m, n)
    return dict(g, **measure(lambda: torch.mm(av, bv, out=c), cfg))


def conv_case(p, cfg):
    oh = (p["h"] + 2 * p["padH"] - p["dilationH"] * (p["kh"] - 1) - 1) // p["strideH"] + 1
    ow = (p["w"] + 2 * p["padW"] - p["dilationW"] * (p["kw"] - 1) - 1) // p["strideW"] + 1
    x = torch.rand(p["n"], p["c"], p["h"], p["w"]) * 2 - 1
    w = torch.rand(p["oc"], p["c"] // p["groups"], p["kh"], p["kw"]) * 0.1
    b = torch.rand(p["oc"])
    gy = torch.rand(p["n"], p["oc"], oh, ow) * 2 - 1
    stride, pad, dil = [p["strideH"], p["strideW"]], [p["padH"], p["padW"]], [p["dilationH"], p["dilationW"]]
    groups = p["groups"]
    bwd = torch.ops.aten.convolution_backward

    def forward():
        return F.conv2d(x, w, b, stride, pad, dil, groups)

    def backward_data():
        return bwd(gy, x, w, None, stride, pad, dil, False, [0, 0], groups, [True, False, False])

    def backward_weights():
        return bwd(gy, x, w, [p["oc"]], stride, pad, dil, False, [0, 0], groups, [False, True, True])

    with torch.no_grad():
        return dict(
            p,
            oh=oh,
            ow=ow,
            forward=measure(forward, cfg),
            backwardData=measure(backward_data, cfg),
            backwardWeights=measure(backward_weights, cfg),
        )


def main():
    if len(sys.argv) != 2:
        print("usage: torch_kernels.py '<json timing config>' < cases (one JSON per line)", file=sys.stderr)
        return 2
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(int(cfg["threads"]))  # PyTorch defaults to 1 thread here
    torch.manual_seed(0)
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "mkldnn": torch.backends.mkldnn.is_available()}
    print(json.dumps(info), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        case = json.loads(line)
        if "gemm" in case:
            out = gemm_case(case["gemm"], cfg)
        elif "conv" in case:
            out = conv_case(case["conv"], cfg)
        else:
            print(f"torch_kernels.py: unknown case {line.strip()!r}", file=sys.stderr)
            return 2
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
