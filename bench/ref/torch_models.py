"""PyTorch CPU reference for `npm run bench -- models`: training and inference throughput of the
model zoo's architectures written in torch.nn, on the same shapes as the TypeScript side.

usage: python3 torch_models.py '{"threads": N}'
First prints one JSON line {"torch": version, "threads": .., "mkldnn": ..}, then reads one JSON
request per line from stdin and answers each with one JSON line (flushed); exits at end of input.
  {"op": "params", "spec": S}            -> {"params": n, "layers": [[name, n], ...]}
  {"op": "time", "spec": S, "train": T, "infer": T}
        -> {"train": timing, "infer": timing, "lossFirst": x, "lossAtK": x, "k": K, "lossLast": x, "steps": n, "params": n}
where T = {"warmup", "minSeconds", "minIters", "maxIters"} (as bench/harness.ts) and timing =
{"iters", "medianMs", "minMs"}. S is the model spec bench/models.ts sends (its `kind` picks the
architecture below; the other fields are its sizes). Models, optimisers and data are built at the
first request for a spec and kept, so later rounds reuse them; each "time" request first resets the
weights to the ones built and the optimizer to a fresh one, so every round trains the same steps
from the same start (lossAtK: the loss at step K = train warmup + minIters, a step both sides
always reach; the TypeScript side resets and reports the same way, so the losses are comparable).

One training iteration = optimizer.zero_grad(); loss = criterion(model(x), y); loss.backward();
optimizer.step() with torch.optim.SGD(lr, momentum, dampening 0) over all parameters (dense
gradients: nn.Embedding(sparse=False)), in train() mode. One inference iteration = model(x) in
eval() mode under torch.no_grad(). Each call is timed on its own (time.perf_counter); after
`warmup` untimed calls, calls continue until >= minSeconds have passed and >= minIters were made
(at most maxIters); the median is reported with the minimum -- the same method as the TypeScript side.
"""
import json
import os
import sys
import time

import torch
import torch.nn as nn
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


# ---- architectures (each mirrors src/models/*.ts; parameter counts are checked by the bench) ----

class LeNet5(nn.Module):
    """src/models/lenet.ts: conv 1->6 5x5, tanh, max 2x2, conv 6->12 5x5, tanh, max 2x2,
    Linear 192->100, tanh, Linear 100->classes, log_softmax."""

    def __init__(self, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 12, 5)
        self.fc1 = nn.Linear(192, 100)
        self.fc2 = nn.Linear(100, classes)

    def forward(self, x):
        x = F.max_pool2d(torch.tanh(self.conv1(x)), 2)
        x = F.max_pool2d(torch.tanh(self.conv2(x)), 2)
        return F.log_softmax(self.fc2(torch.tanh(self.fc1(x.flatten(1)))), dim=1)


class NeuMF(nn.Module):
    """src/models/neural-cf.ts with output 'sigmoid' (MLPerf/NCF's NeuMF): MLP tower on
    concat(user, item) embeddings, GMF = mf user * mf item, concat -> Linear -> sigmoid."""

    def __init__(self, users, items, embed, mf, hidden):
        super().__init__()
        self.mlp_user = nn.Embedding(users, embed)
        self.mlp_item = nn.Embedding(items, embed)
        self.mf_user = nn.Embedding(users, mf)
        self.mf_item = nn.Embedding(items, mf)
        layers, width = [], 2 * embed
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.mlp = nn.Sequential(*layers)
        self.last = nn.Linear(width + mf, 1)

    def forward(self, x):
        u, i = x[:, 0], x[:, 1]
        mlp = self.mlp(torch.cat([self.mlp_user(u), self.mlp_item(i)], dim=1))
        gmf = self.mf_user(u) * self.mf_item(i)
        return torch.sigmoid(self.last(torch.cat([mlp, gmf], dim=1)))


class LSTMClassifier(nn.Module):
    """src/models/text-classifier.ts with encoder 'lstm': Embedding -> LSTM (last step's h) ->
    Linear -> log_softmax."""

    def __init__(self, vocab, embed, hidden, classes):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.classifier = nn.Linear(hidden, classes)

    def forward(self, x):
        out, _ = self.lstm(self.embedding(x))
        return F.log_softmax(self.classifier(out[:, -1]), dim=1)


def conv_relu(cin, cout, k, stride=1, pad=0):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad), nn.ReLU(inplace=False))


class InceptionBlock(nn.Module):
    """BigDL's Inception_Layer_v1 (src/models/inception.ts InceptionLayerV1)."""

    def __init__(self, cin, c1, r3, c3, r5, c5, cp):
        super().__init__()
        self.b1 = conv_relu(cin, c1, 1)
        self.b3 = nn.Sequential(conv_relu(cin, r3, 1), conv_relu(r3, c3, 3, 1, 1))
        self.b5 = nn.Sequential(conv_relu(cin, r5, 1), conv_relu(r5, c5, 5, 1, 2))
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), conv_relu(cin, cp, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], dim=1)


class InceptionV1(nn.Module):
    """src/models/inception.ts InceptionV1 without aux heads (BigDL's Inception_v1_NoAuxClassifier):
    LRN, ceil-mode pooling, dropout 0.4, log_softmax output."""

    def __init__(self, classes):
        super().__init__()
        self.features = nn.Sequential(
            conv_relu(3, 64, 7, 2, 3),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.LocalResponseNorm(5, 0.0001, 0.75, 1.0),
            conv_relu(64, 64, 1),
            conv_relu(64, 192, 3, 1, 1),
            nn.LocalResponseNorm(5, 0.0001, 0.75, 1.0),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            InceptionBlock(192, 64, 96, 128, 16, 32, 32),
            InceptionBlock(256, 128, 128, 192, 32, 96, 64),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            InceptionBlock(480, 192, 96, 208, 16, 48, 64),
            InceptionBlock(512, 160, 112, 224, 24, 64, 64),
            InceptionBlock(512, 128, 128, 256, 24, 64, 64),
            InceptionBlock(512, 112, 144, 288, 32, 64, 64),
            InceptionBlock(528, 256, 160, 320, 32, 128, 128),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            InceptionBlock(832, 256, 160, 320, 32, 128, 128),
            InceptionBlock(832, 384, 192, 384, 48, 128, 128),
            nn.AvgPool2d(7, 1),
            nn.Dropout(0.4),
        )
        self.classifier = nn.Linear(1024, classes)

    def forward(self, x):
        return F.log_softmax(self.classifier(self.features(x).flatten(1)), dim=1)


def build(spec):
    """-> (model, criterion, input, target) for a spec; random data with fixed seeds."""
    g = torch.Generator().manual_seed(1234)
    kind, b = spec["kind"], spec["batch"]
    if kind == "lenet":
        model = LeNet5(spec["classes"])
        x = torch.rand(b, 1, 28, 28, generator=g) * 2 - 1
        y = torch.randint(0, spec["classes"], (b,), generator=g)
        crit = nn.NLLLoss()
    elif kind == "neumf":
        model = NeuMF(spec["users"], spec["items"], spec["embed"], spec["mf"], spec["hidden"])
        x = torch.stack([torch.randint(0, spec["users"], (b,), generator=g),
                         torch.randint(0, spec["items"], (b,), generator=g)], dim=1)
        y = torch.randint(0, 2, (b, 1), generator=g).float()
        crit = nn.BCELoss()
    elif kind == "lstm":
        model = LSTMClassifier(spec["vocab"], spec["embed"], spec["hidden"], spec["classes"])
        x = torch.randint(0, spec["vocab"], (b, spec["seq"]), generator=g)
        y = torch.randint(0, spec["classes"], (b,), generator=g)
        crit = nn.NLLLoss()
    elif kind == "inception":
        model = InceptionV1(spec["classes"])
        x = torch.rand(b, 3, spec["size"], spec["size"], generator=g) * 2 - 1
        y = torch.randint(0, spec["classes"], (b,), generator=g)
        crit = nn.NLLLoss()
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    return model, crit, x, y


class Case:
    def __init__(self, spec):
        self.spec = spec
        self.model, self.crit, self.x, self.y = build(spec)
        # every timed round trains from these weights with a fresh optimizer (as the TypeScript side)
        self.initial = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.reset()

    def reset(self):
        """Back to the initial weights, momentum buffers dropped."""
        self.model.load_state_dict(self.initial)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=self.spec["lr"], momentum=self.spec["momentum"], dampening=0)
        self.losses = []

    def params(self):
        return sum(p.numel() for p in self.model.parameters())

    def layers(self):
        return [[n, p.numel()] for n, p in self.model.named_parameters()]

    def train_step(self):
        self.opt.zero_grad()
        loss = self.crit(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        self.losses.append(loss.item())

    def infer_step(self):
        with torch.no_grad():
            self.model(self.x)


def blas_library():
    """The BLAS shared object this process mapped (Debian's torch loads libblas.so.3 and libopenblas.so.0)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line and "/" in line}
        return sorted(paths)
    except OSError:
        return []


def main():
    if len(sys.argv) != 2:
        print("usage: torch_models.py '<json config>' < requests (one JSON per line)", file=sys.stderr)
        return 2
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(int(cfg["threads"]))  # PyTorch defaults to 1 thread here
    torch.manual_seed(0)
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "mkldnn": torch.backends.mkldnn.is_available(),
            "env": {k: os.environ[k] for k in ("OMP_WAIT_POLICY", "OPENBLAS_CORETYPE", "GLIBC_TUNABLES") if k in os.environ},
            "blas": blas_library()}
    print(json.dumps(info), flush=True)
    cases = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        key = json.dumps(req["spec"], sort_keys=True)
        try:
            if key not in cases:
                cases[key] = Case(req["spec"])
            c = cases[key]
            if req["op"] == "params":
                out = {"params": c.params(), "layers": c.layers()}
            elif req["op"] == "time":
                c.reset()
                c.model.train()
                train = measure(c.train_step, req["train"])
                c.model.eval()
                infer = measure(c.infer_step, req["infer"])
                k = min(len(c.losses), req["train"]["warmup"] + req["train"]["minIters"])
                out = {"train": train, "infer": infer, "lossFirst": c.losses[0], "lossAtK": c.losses[k - 1], "k": k,
                       "lossLast": c.losses[-1], "steps": len(c.losses), "params": c.params()}
            else:
                raise ValueError(f"unknown op {req['op']!r}")
        except Exception as e:  # answer with the error so the bench can report it and go on
            out = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
