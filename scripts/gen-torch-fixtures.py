#!/usr/bin/python3
"""Generates the PyTorch parity fixtures in test/fixtures/torch/*.json.

Run with Debian's PyTorch:  /usr/bin/python3 scripts/gen-torch-fixtures.py
Each fixture holds inputs, parameters (in PyTorch's layout, which our modules share), outputs and
the gradients of sum(output * gradOutput) with respect to the inputs and parameters. The files are
committed, so the tests need no PyTorch; rerun this script to regenerate them.
"""
import json
import os
import sys
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'torch')
os.makedirs(OUT, exist_ok=True)


def arr(t):
    return {'shape': list(t.shape), 'data': [float(v) for v in t.detach().reshape(-1).tolist()]}


def save(name, module_args, inputs, params, outputs, grads):
    doc = {'name': name, 'torch': torch.__version__, 'args': module_args,
           'inputs': {k: arr(v) for k, v in inputs.items()},
           'params': {k: arr(v) for k, v in params.items()},
           'outputs': {k: arr(v) for k, v in outputs.items()},
           'grads': {k: arr(v) for k, v in grads.items()}}
    with open(os.path.join(OUT, name + '.json'), 'w') as f:
        json.dump(doc, f)


def run_module(name, module, x, args, param_names, train=True):
    module.train(train)
    x = x.clone().requires_grad_(True)
    y = module(x)
    gy = torch.randn_like(y)
    (y * gy).sum().backward()
    params = dict(zip(param_names, [p for p in module.parameters()]))
    grads = {'input': x.grad}
    grads.update({k: p.grad for k, p in params.items()})
    outputs = {'output': y, 'gradOutput': gy}
    for buf_name, buf in module.named_buffers():
        if buf.dtype.is_floating_point:
            outputs[buf_name] = buf
    save(name, args, {'input': x}, params, outputs, grads)


run_module('linear', nn.Linear(7, 5), torch.randn(4, 7), {'in': 7, 'out': 5}, ['weight', 'bias'])
run_module('conv2d', nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0)), torch.randn(2, 4, 7, 6),
           {'in': 4, 'out': 6, 'kW': 2, 'kH': 3, 'dW': 1, 'dH': 2, 'padW': 0, 'padH': 1, 'groups': 1}, ['weight', 'bias'])
run_module('conv2d_groups_dilation', nn.Conv2d(4, 6, 3, stride=1, padding=2, dilation=2, groups=2), torch.randn(2, 4, 8, 7),
           {'in': 4, 'out': 6, 'kW': 3, 'kH': 3, 'dW': 1, 'dH': 1, 'padW': 2, 'padH': 2, 'groups': 2, 'dilation': 2}, ['weight', 'bias'])
run_module('maxpool_ceil', nn.MaxPool2d(3, stride=2, ceil_mode=True), torch.randn(2, 3, 8, 7),
           {'kW': 3, 'kH': 3, 'dW': 2, 'dH': 2, 'padW': 0, 'padH': 0, 'ceil': True}, [])
run_module('avgpool_pad', nn.AvgPool2d(3, stride=2, padding=1), torch.randn(2, 3, 7, 8),
           {'kW': 3, 'kH': 3, 'dW': 2, 'dH': 2, 'padW': 1, 'padH': 1, 'ceil': False, 'countIncludePad': True}, [])
run_module('lrn', nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0), torch.randn(2, 7, 4, 5),
           {'size': 5, 'alpha': 1e-4, 'beta': 0.75, 'k': 1.0}, [])
bn = nn.BatchNorm2d(3, eps=1e-5, momentum=0.1)
with torch.no_grad():
    bn.weight.uniform_(0.5, 1.5)
    bn.bias.uniform_(-0.5, 0.5)
run_module('batchnorm2d_train', bn, torch.randn(4, 3, 5, 6) * 2 + 1,
           {'n': 3, 'eps': 1e-5, 'momentum': 0.1}, ['weight', 'bias'])
bn1 = nn.BatchNorm1d(5)
with torch.no_grad():
    bn1.running_mean.uniform_(-1, 1)
    bn1.running_var.uniform_(0.5, 2)
    bn1.weight.uniform_(0.5, 1.5)
    bn1.bias.uniform_(-0.5, 0.5)
saved_mean, saved_var = bn1.running_mean.clone(), bn1.running_var.clone()
run_module('batchnorm1d_eval', bn1, torch.randn(6, 5), {'n': 5, 'eps': 1e-5, 'runningMean': saved_mean.tolist(),
                                                         'runningVar': saved_var.tolist()}, ['weight', 'bias'], train=False)


def run_rnn(name, rnn, x, args):
    x = x.clone().requires_grad_(True)
    y, _ = rnn(x)
    gy = torch.randn_like(y)
    (y * gy).sum().backward()
    names = ['weightIH', 'weightHH', 'biasIH', 'biasHH']
    params = dict(zip(names, [rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0]))
    grads = {'input': x.grad}
    grads.update({k: p.grad for k, p in params.items()})
    save(name, args, {'input': x}, params, {'output': y, 'gradOutput': gy}, grads)


run_rnn('lstm', nn.LSTM(4, 5, batch_first=True), torch.randn(3, 6, 4), {'input': 4, 'hidden': 5})
run_rnn('gru', nn.GRU(4, 5, batch_first=True), torch.randn(3, 6, 4), {'input': 4, 'hidden': 5})

emb = nn.Embedding(10, 4, padding_idx=2)
idx = torch.tensor([[1, 2, 3], [9, 1, 0]])
out = emb(idx)
gy = torch.randn_like(out)
(out * gy).sum().backward()
save('lookup_table', {'nIndex': 10, 'nOutput': 4, 'paddingIdx': 2}, {'input': idx.float()}, {'weight': emb.weight},
     {'output': out, 'gradOutput': gy}, {'weight': emb.weight.grad})

logp = torch.log_softmax(torch.randn(5, 4), 1).requires_grad_(True)
target = torch.tensor([0, 3, 1, 1, 2])
w = torch.tensor([1.0, 2.0, 0.5, 1.5])
loss = F.nll_loss(logp, target, weight=w)
loss.backward()
save('class_nll_weighted', {'weights': w.tolist()}, {'input': logp, 'target': target.float()}, {},
     {'loss': loss.reshape(1)}, {'input': logp.grad})

p = torch.sigmoid(torch.randn(4, 3)).requires_grad_(True)
t = torch.randint(0, 2, (4, 3)).float()
loss = F.binary_cross_entropy(p, t)
loss.backward()
save('bce', {}, {'input': p, 'target': t}, {}, {'loss': loss.reshape(1)}, {'input': p.grad})


# NeuMF end to end (src/models/neural-cf.ts with output 'sigmoid', bench/ref/torch_models.py's NeuMF):
# the loss and every parameter gradient of one step of sigmoid + BCELoss, then the losses of three
# SGD steps (momentum 0.9, dampening 0), so a mismatch in any layer's gradient or in the
# criterion's reduction shows as a learning-speed difference against PyTorch. Ids repeat within the
# batch so the embedding gradients accumulate. The architecture is the bench's reference itself, so
# the fixture checks the model the bench times.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'bench', 'ref'))
from torch_models import NeuMF  # noqa: E402


ncf_args = {'userCount': 7, 'itemCount': 6, 'userEmbed': 4, 'itemEmbed': 4, 'mfEmbed': 3, 'hiddenLayers': [5, 4], 'lr': 0.1, 'momentum': 0.9}
ncf = NeuMF(7, 6, 4, 3, [5, 4])
ncf_names = {'mlp_user.weight': 'mlpUserTable.weight', 'mlp_item.weight': 'mlpItemTable.weight', 'mlp.0.weight': 'mlpLinear0.weight',
             'mlp.0.bias': 'mlpLinear0.bias', 'mlp.2.weight': 'mlpLinear1.weight', 'mlp.2.bias': 'mlpLinear1.bias',
             'mf_user.weight': 'mfUserTable.weight', 'mf_item.weight': 'mfItemTable.weight', 'last.weight': 'linearLast.weight',
             'last.bias': 'linearLast.bias'}
ids = torch.stack([torch.tensor([0, 3, 3, 6, 1, 3, 5, 0, 2, 6]), torch.tensor([5, 1, 1, 0, 2, 4, 1, 3, 0, 5])], dim=1)
labels = torch.tensor([[1.], [0.], [1.], [1.], [0.], [0.], [1.], [0.], [1.], [0.]])
ncf_params = {ncf_names[k]: v.detach().clone() for k, v in ncf.named_parameters()}
opt = torch.optim.SGD(ncf.parameters(), lr=0.1, momentum=0.9, dampening=0)
losses, ncf_grads = [], {}
for step in range(3):
    opt.zero_grad()
    loss = F.binary_cross_entropy(ncf(ids), labels)
    loss.backward()
    if step == 0:
        ncf_grads = {ncf_names[k]: v.grad.clone() for k, v in ncf.named_parameters()}
    opt.step()
    losses.append(loss.item())
save('neumf', ncf_args, {'input': ids.float(), 'target': labels}, ncf_params, {'losses': torch.tensor(losses)}, ncf_grads)
print('wrote', sorted(os.listdir(OUT)))
