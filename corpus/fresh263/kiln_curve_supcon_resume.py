"""Ceramic kiln logs: which firing programme produced a thermocouple curve.

Supervised contrastive embedding (several same-programme curves per batch), trained in two
sessions with a checkpoint written half-way and read back into fresh objects. The embedding
is read out with kNN against a few reference curves and compared with raw curves.
"""
import os
import tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
T = 40
SCHEDULES = [  # (ramp-1 rate, hold temp, ramp-2 rate, peak, soak) per firing programme
    (0.9, 0.35, 0.6, 1.00, 6), (0.5, 0.45, 1.2, 0.95, 2), (1.4, 0.30, 0.4, 0.85, 9),
    (0.7, 0.55, 0.9, 1.05, 4), (1.1, 0.40, 1.5, 0.90, 1), (0.6, 0.25, 0.7, 1.10, 7)]
NPROG = len(SCHEDULES)


def firing(k, n):
    r1, hold, r2, peak, soak = SCHEDULES[k]
    out = np.zeros((n, T), np.float32)
    for i in range(n):
        t, temp, cur = 0, 0.02, []
        j1, j2 = r1 * rng.uniform(0.8, 1.2), r2 * rng.uniform(0.8, 1.2)
        while len(cur) < T:
            if temp < hold:
                temp += 0.08 * j1
            elif t < 8 + soak and temp < peak:
                t += 1
            elif temp < peak:
                temp += 0.08 * j2
            else:
                temp -= 0.03
            cur.append(temp)
        out[i] = np.roll(np.array(cur) * rng.uniform(0.8, 1.2) + rng.normal(0, 0.1),
                         rng.integers(-3, 4)) + 0.06 * rng.normal(size=T)
    return out


def make(n_per):
    X = np.concatenate([firing(k, n_per) for k in range(NPROG)])
    y = np.repeat(np.arange(NPROG), n_per)
    return X, y


Xtr, ytr = make(200)               # training logs
Xl, yl = make(5)                   # 30 reference logs for the read-out
Xq, yq = make(60)                  # query logs


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(T, 96)
        self.l2 = nn.Linear(96, 96)
        self.fc = nn.Linear(96, 32)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        z = self.fc(h)
        return z / mx.sqrt((z * z).sum(-1, keepdims=True) + 1e-8)


STEPS, HALF = 400, 200
PER_PROG, TAU = 16, 0.1            # 6 programmes x 16 curves per batch


def supcon(model, x, y):
    z = model(x)
    n = z.shape[0]
    logits = (z @ z.T) / TAU
    eye = mx.eye(n, dtype=mx.bool_)
    logits = mx.where(eye, -1e9, logits)
    logp = logits - mx.logsumexp(logits, axis=1, keepdims=True)
    pos = (y[:, None] == y[None, :]) & ~eye
    return -(mx.where(pos, logp, 0.0).sum(1) / pos.sum(1)).mean()


def build():
    model = Encoder()
    mx.eval(model.parameters())
    sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 50),
                                  optim.cosine_decay(2e-3, STEPS - 50, 5e-5)], [50])
    return model, optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def knn_acc(embed_fn, k=5):
    def emb(X):
        e = np.array(embed_fn(mx.array(X)))
        return e / np.linalg.norm(e, axis=1, keepdims=True)
    S = emb(Xq) @ emb(Xl).T
    votes = yl[np.argsort(-S, axis=1)[:, :k]]
    pred = np.array([np.bincount(v, minlength=NPROG).argmax() for v in votes])
    return 100.0 * (pred == yq).mean()


by_prog = [np.where(ytr == k)[0] for k in range(NPROG)]
floor = np.log(PER_PROG - 1)


def run(model, opt, start, stop):
    grad_fn = nn.value_and_grad(model, supcon)
    window = []
    for step in range(start, stop):
        idx = np.concatenate([rng.choice(b, PER_PROG, replace=False) for b in by_prog])
        x = Xtr[idx] + 0.03 * rng.normal(size=(len(idx), T)).astype(np.float32)
        loss, g = grad_fn(model, mx.array(x), mx.array(ytr[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 50 == 0 or step == stop - 1:
            print(f"  step {step:3d}  lr {float(opt.learning_rate):.5f}  supcon {np.mean(window):.4f}"
                  f"  (floor ln{PER_PROG - 1} = {floor:.4f})")
            window = []


raw = knn_acc(lambda x: x)
model, opt = build()
print(f"kNN read-out on {len(yq)} query logs: chance {100 / NPROG:.1f}%  raw curves {raw:.1f}%  "
      f"untrained {knn_acc(model):.1f}%")
print("session 1")
run(model, opt, 0, HALF)
print(f"  kNN after session 1: {knn_acc(model):.1f}%")

with tempfile.TemporaryDirectory() as d:
    model.save_weights(os.path.join(d, "enc.safetensors"))
    mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
    del model, opt
    model, opt = build()
    model.load_weights(os.path.join(d, "enc.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
print(f"session 2 (resumed from disk at optimizer step {int(opt.state['step'])}, "
      f"kNN {knn_acc(model):.1f}%)")
run(model, opt, HALF, STEPS)
print(f"final kNN read-out: {knn_acc(model):.1f}%  raw {raw:.1f}%  chance {100 / NPROG:.1f}%")
