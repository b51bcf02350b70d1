#!/usr/bin/python3
"""Generates the PyTorch parity fixtures for src/optim in test/fixtures/torch-optim/*.json.

Run with Debian's PyTorch:  /usr/bin/python3 scripts/gen-torch-optim-fixtures.py
For each optim method (and each learning-rate schedule PyTorch also has) a fixture records the
initial weights, a fixed seeded sequence of gradients, the weights after each step and the learning
rate each step used. LBFGS fixtures instead record a small objective (a quadratic or Rosenbrock),
the weights, losses and evaluation counts after each call. `options` uses our option names
(src/optim), so a test builds the method straight from the file. The files are committed, so the
tests need no PyTorch; rerun this script to regenerate them.
"""
import json
import os
import torch

torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'torch-optim')
os.makedirs(OUT, exist_ok=True)
N = 7        # slice length
STEPS = 8    # gradients per fixture


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def save(name, doc):
    doc = {'name': name, 'torch': torch.__version__, **doc}
    with open(os.path.join(OUT, name + '.json'), 'w') as f:
        json.dump(doc, f, separators=(',', ':'))


def run(name, seed, method, options, make_opt, schedule=None, make_sched=None, steps=STEPS):
    """Fixed gradients g_0..g_{steps-1}: p.grad = g_k, then opt.step() (and scheduler.step())."""
    gen = torch.Generator().manual_seed(seed)
    w0 = torch.randn(N, generator=gen)
    grads = torch.randn(steps, N, generator=gen)
    p = torch.nn.Parameter(w0.clone())
    opt = make_opt([p])
    sched = make_sched(opt) if make_sched else None
    weights, lrs = [], []
    for k in range(steps):
        lrs.append(float(opt.param_groups[0]['lr']))
        p.grad = grads[k].clone()
        opt.step()
        if sched:
            sched.step()
        weights.append(flat(p))
    save(name, {'method': method, 'options': options, 'schedule': schedule, 'weights0': flat(w0),
                'grads': [flat(g) for g in grads], 'weights': weights, 'lrs': lrs})


S = torch.optim
run('sgd_plain', 1, 'SGD', {'learningRate': 0.1},
    lambda ps: S.SGD(ps, lr=0.1, foreach=False))
run('sgd_momentum_dampening', 2, 'SGD', {'learningRate': 0.05, 'momentum': 0.9, 'dampening': 0.3},
    lambda ps: S.SGD(ps, lr=0.05, momentum=0.9, dampening=0.3, foreach=False))
run('sgd_nesterov_wd', 3, 'SGD',
    {'learningRate': 0.05, 'momentum': 0.8, 'dampening': 0, 'nesterov': True, 'weightDecay': 0.01},
    lambda ps: S.SGD(ps, lr=0.05, momentum=0.8, dampening=0, nesterov=True, weight_decay=0.01, foreach=False))
run('adagrad', 4, 'Adagrad',
    {'learningRate': 0.1, 'learningRateDecay': 0.05, 'weightDecay': 0.02, 'initialAccumulatorValue': 0.1},
    lambda ps: S.Adagrad(ps, lr=0.1, lr_decay=0.05, weight_decay=0.02, initial_accumulator_value=0.1, foreach=False))
run('adam', 5, 'Adam',
    {'learningRate': 0.01, 'beta1': 0.8, 'beta2': 0.99, 'epsilon': 1e-6, 'weightDecay': 0.05},
    lambda ps: S.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, foreach=False))
run('adam_defaults', 6, 'Adam', {},
    lambda ps: S.Adam(ps, foreach=False))
run('adamax', 7, 'Adamax',
    {'learningRate': 0.02, 'beta1': 0.85, 'beta2': 0.995, 'epsilon': 1e-8, 'weightDecay': 0.01},
    lambda ps: S.Adamax(ps, lr=0.02, betas=(0.85, 0.995), eps=1e-8, weight_decay=0.01, foreach=False))
run('adadelta', 8, 'Adadelta',
    {'learningRate': 1.0, 'decayRate': 0.9, 'epsilon': 1e-6, 'weightDecay': 0.01},
    lambda ps: S.Adadelta(ps, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.01, foreach=False))
run('rmsprop', 9, 'RMSprop', {'learningRate': 0.01, 'decayRate': 0.9, 'epsilon': 1e-8},
    lambda ps: S.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-8, foreach=False))
run('rmsprop_centered_momentum', 10, 'RMSprop',
    {'learningRate': 0.01, 'decayRate': 0.95, 'epsilon': 1e-7, 'momentum': 0.7, 'centered': True,
     'weightDecay': 0.01},
    lambda ps: S.RMSprop(ps, lr=0.01, alpha=0.95, eps=1e-7, momentum=0.7, centered=True, weight_decay=0.01,
                         foreach=False))

# learning-rate schedules, through torch.optim.lr_scheduler (stepped once per optimizer step)
L = torch.optim.lr_scheduler
run('sched_step_sgd', 11, 'SGD', {'learningRate': 0.1, 'momentum': 0.9, 'dampening': 0},
    lambda ps: S.SGD(ps, lr=0.1, momentum=0.9, foreach=False),
    {'kind': 'Step', 'args': [3, 0.5]}, lambda o: L.StepLR(o, step_size=3, gamma=0.5), steps=10)
run('sched_multistep_adam', 12, 'Adam', {'learningRate': 0.05},
    lambda ps: S.Adam(ps, lr=0.05, foreach=False),
    {'kind': 'MultiStep', 'args': [[2, 5, 6], 0.3]}, lambda o: L.MultiStepLR(o, milestones=[2, 5, 6], gamma=0.3),
    steps=10)
run('sched_exponential_sgd', 13, 'SGD', {'learningRate': 0.1},
    lambda ps: S.SGD(ps, lr=0.1, foreach=False),
    {'kind': 'Exponential', 'args': [1, 0.8]}, lambda o: L.ExponentialLR(o, gamma=0.8), steps=10)
run('sched_poly_rmsprop', 14, 'RMSprop', {'learningRate': 0.01},
    lambda ps: S.RMSprop(ps, lr=0.01, foreach=False),
    {'kind': 'Poly', 'args': [2.0, 6]}, lambda o: L.PolynomialLR(o, total_iters=6, power=2.0), steps=8)


# LBFGS on small deterministic objectives
def quadratic(n, seed):
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    eig = torch.linspace(0.5, 3.0, n, dtype=torch.float64)
    a = ((q * eig) @ q.T).float()
    a = (a + a.T) / 2
    b = torch.randn(n, generator=gen)
    x0 = torch.randn(n, generator=gen)
    return {'kind': 'quadratic', 'A': [flat(r) for r in a], 'b': flat(b)}, (lambda x: 0.5 * (x @ (a @ x)) - b @ x), x0


def rosenbrock():
    x0 = torch.tensor([-1.5, 2.0])
    return {'kind': 'rosenbrock'}, (lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2), x0


def run_lbfgs(name, problem, options, torch_kwargs, calls):
    spec, fn, x0 = problem
    p = torch.nn.Parameter(x0.clone())
    opt = S.LBFGS([p], **torch_kwargs)

    def closure():
        opt.zero_grad()
        loss = fn(p)
        loss.backward()
        return loss

    weights, losses, func_evals, n_iter = [], [], [], []
    for _ in range(calls):
        losses.append(float(opt.step(closure)))
        weights.append(flat(p))
        st = opt.state[p]
        func_evals.append(st['func_evals'])
        n_iter.append(st['n_iter'])
    save(name, {'method': 'LBFGS', 'options': options, 'problem': spec, 'weights0': flat(x0), 'weights': weights,
                'losses': losses, 'funcEvals': func_evals, 'nIter': n_iter})


# Few enough iterations that the quadratics stay above float32 noise (near the optimum the gradient
# is rounding noise, which a float64 objective in the test does not reproduce).
run_lbfgs('lbfgs_quadratic', quadratic(6, 20), {'learningRate': 1, 'maxIter': 4, 'nCorrection': 3},
          {'lr': 1, 'max_iter': 4, 'history_size': 3}, calls=2)
run_lbfgs('lbfgs_quadratic_wolfe', quadratic(6, 21),
          {'learningRate': 1, 'maxIter': 3, 'nCorrection': 4, 'lineSearch': 'strongWolfe'},
          {'lr': 1, 'max_iter': 3, 'history_size': 4, 'line_search_fn': 'strong_wolfe'}, calls=2)
# Rosenbrock's valley amplifies float32 round-off in the L-BFGS scalars (PyTorch's dot products are
# float32, ours float64): the paths agree to ~2e-6 after 8 iterations and part after ~20.
run_lbfgs('lbfgs_rosenbrock_wolfe', rosenbrock(),
          {'learningRate': 1, 'maxIter': 8, 'nCorrection': 5, 'lineSearch': 'strongWolfe'},
          {'lr': 1, 'max_iter': 8, 'history_size': 5, 'line_search_fn': 'strong_wolfe'}, calls=1)
print('wrote', sorted(os.listdir(OUT)))
