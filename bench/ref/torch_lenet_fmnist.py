"""PyTorch CPU reference for the main demo's recipe: BigDL's LeNet-5 (tanh) on Fashion-MNIST,
inputs scaled to [0,1] and standardised with the training set's mean/std, SGD lr 0.05 momentum 0.9
(dampening 0) with BigDL's learningRateDecay (lr / (1 + iteration * decay)), batch 128, shuffled
every epoch. Prints one JSON line per epoch:
{"epoch", "accuracy", "train_seconds", "samples_per_second"}.
Usage: python3 torch_lenet_fmnist.py [epochs] [threads] [seed] [lr_decay] [data_dir]"""
import gzip, json, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
decay = float(sys.argv[4]) if len(sys.argv) > 4 else 3e-4
root = sys.argv[5] if len(sys.argv) > 5 else '/usr/share/datasets/fashion-mnist'
torch.set_num_threads(threads)
torch.manual_seed(seed)

def idx(name, offset):
    with gzip.open(f'{root}/{name}', 'rb') as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)

xtr = idx('train-images-idx3-ubyte.gz', 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
ytr = idx('train-labels-idx1-ubyte.gz', 8).astype(np.int64)
xte = idx('t10k-images-idx3-ubyte.gz', 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
yte = idx('t10k-labels-idx1-ubyte.gz', 8).astype(np.int64)
mean, std = xtr.mean(dtype=np.float64), xtr.std(dtype=np.float64)
xtr = torch.from_numpy((xtr - mean) / std).float(); xte = torch.from_numpy((xte - mean) / std).float()
ytr = torch.from_numpy(ytr); yte = torch.from_numpy(yte)

class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5); self.c2 = nn.Conv2d(6, 12, 5)
        self.f1 = nn.Linear(192, 100); self.f2 = nn.Linear(100, 10)
    def forward(self, x):
        x = F.max_pool2d(torch.tanh(self.c1(x)), 2)
        x = F.max_pool2d(torch.tanh(self.c2(x)), 2)
        return F.log_softmax(self.f2(torch.tanh(self.f1(x.flatten(1)))), dim=1)

model = LeNet5()
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: 1.0 / (1.0 + it * decay))
n = xtr.shape[0]
for epoch in range(1, epochs + 1):
    model.train()
    perm = torch.randperm(n)
    t0 = time.perf_counter()
    for i in range(0, n, 128):
        b = perm[i:i + 128]
        opt.zero_grad()
        loss = F.nll_loss(model(xtr[b]), ytr[b])
        loss.backward()
        opt.step()
        sched.step()
    dt = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    print(json.dumps({'epoch': epoch, 'accuracy': acc, 'train_seconds': dt, 'samples_per_second': n / dt}), flush=True)
