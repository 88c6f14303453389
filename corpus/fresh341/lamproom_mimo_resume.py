"""Lighthouse lamp-room fault class with a MIMO ensemble (Havasi et al., 2021).

One network carries three sub-networks: during training it takes three
independently shuffled examples side by side and predicts all three labels; at
test time the same reading is fed to all three inputs and the three softmax
outputs are averaged. Training is split into two sittings: the run saves
weights and optimizer state half way, throws the objects away, and resumes.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

M, N_FEAT, N_CLASS = 3, 10, 4
N_TRAIN, N_TEST = 6000, 2000
EPOCHS, HALF, BATCH = 14, 7, 100
rng = np.random.default_rng(2024)

W_true = rng.normal(0, 1.0, (N_FEAT, N_CLASS))
b_true = np.array([0.8, 0.1, -0.3, -0.6])


def readings(n):
    X = rng.normal(0, 1, (n, N_FEAT))
    X[:, 3] = np.abs(X[:, 3])                      # lamp current draw
    logits = X @ W_true + b_true + 0.7 * np.sin(2 * X[:, :N_CLASS])
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(N_CLASS, p=row) for row in p])
    return X.astype(np.float32), y.astype(np.int32), p


Xtr, ytr, _ = readings(N_TRAIN)
Xte, yte, pte = readings(N_TEST)
bayes_acc = float((pte.argmax(1) == yte).mean())
major_acc = float((yte == np.bincount(ytr).argmax()).mean())


class Lamproom(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(M * N_FEAT, 192), nn.ReLU(),
                                   nn.Linear(192, 192), nn.ReLU())
        self.head = nn.Linear(192, M * N_CLASS)

    def __call__(self, xs):                        # xs: (M, B, F)
        b = xs.shape[1]
        h = self.trunk(xs.transpose(1, 0, 2).reshape(b, M * N_FEAT))
        return self.head(h).reshape(b, M, N_CLASS).transpose(1, 0, 2)


def loss_fn(model, xs, ys):
    logits = model(xs)
    ce = nn.losses.cross_entropy(logits, ys, reduction="none")   # (M, B)
    return ce.mean(1).sum()                        # summed over sub-networks


def build(seed):
    mx.random.seed(seed)
    model = Lamproom()
    opt = optim.SGD(learning_rate=optim.step_decay(0.05, 0.5, 4 * (N_TRAIN // BATCH)),
                    momentum=0.9, nesterov=True, weight_decay=1e-4)
    return model, opt


def evaluate(model):
    x = mx.array(Xte)
    xs = mx.broadcast_to(x[None], (M, N_TEST, N_FEAT))
    probs = mx.softmax(model(xs), axis=-1)          # (M, N, C)
    mean_p = probs.mean(0)
    y = mx.array(yte)
    ens_acc = (mean_p.argmax(-1) == y).mean()
    ens_nll = -mx.log(mx.take_along_axis(mean_p, y[:, None], 1) + 1e-9).mean()
    mem_acc = (probs.argmax(-1) == y[None]).mean(1)
    mx.eval(ens_acc, ens_nll, mem_acc)
    return ens_acc.item(), ens_nll.item(), [round(v, 3) for v in mem_acc.tolist()]


def run_epochs(model, opt, first, last, perm_rng, gstep):
    grad_fn = nn.value_and_grad(model, loss_fn)
    steps = N_TRAIN // BATCH
    for epoch in range(first, last + 1):
        t0 = time.time()
        orders = [perm_rng.permutation(N_TRAIN) for _ in range(M)]
        tot = 0.0
        for s in range(steps):
            idx = [o[s * BATCH:(s + 1) * BATCH] for o in orders]
            xs = mx.array(np.stack([Xtr[i] for i in idx]))
            ys = mx.array(np.stack([ytr[i] for i in idx]))
            loss, g = grad_fn(model, xs, ys)
            opt.update(model, g)
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
            gstep += 1
        acc, nll, mem = evaluate(model)
        lr = opt.learning_rate.item()
        print(f"[mimo] epoch={epoch:02d}  step={gstep}  lr={lr:.4f}  "
              f"train_loss_sum3={tot / steps:.4f}  test_nll={nll:.4f}  "
              f"test_acc={acc:.3f}  members={mem}  t={time.time() - t0:.2f}s")
    return gstep


print(f"[data] train={N_TRAIN} test={N_TEST} classes={N_CLASS} subnets={M}")
print(f"[data] test acc of majority class={major_acc:.3f}  of the true law={bayes_acc:.3f}")
model, opt = build(seed=5)
perm_rng = np.random.default_rng(99)
gstep = run_epochs(model, opt, 1, HALF, perm_rng, 0)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as fh:
    json.dump({"epoch": HALF, "step": gstep,
               "rng": perm_rng.bit_generator.state}, fh)
ref_acc, ref_nll, _ = evaluate(model)
print(f"[ckpt] saved epoch={HALF} step={gstep} to {ckpt}")
del model, opt

model, opt = build(seed=77)                       # different init on purpose
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
with open(os.path.join(ckpt, "meta.json")) as fh:
    meta = json.load(fh)
perm_rng = np.random.default_rng()
perm_rng.bit_generator.state = meta["rng"]
acc, nll, _ = evaluate(model)
print(f"[resume] epoch={meta['epoch']} step={int(opt.step.item())} "
      f"nll_gap={abs(nll - ref_nll):.2e} acc_gap={abs(acc - ref_acc):.2e}")
gstep = run_epochs(model, opt, HALF + 1, EPOCHS, perm_rng, meta["step"])
acc, nll, mem = evaluate(model)
print(f"[final] test_acc={acc:.3f} test_nll={nll:.4f} members={mem} "
      f"majority={major_acc:.3f} true_law={bayes_acc:.3f}")
