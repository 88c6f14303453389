"""Ship's-logbook character model with a kNN datastore (kNN-LM style).

A small character MLP language model is trained on synthetic logbook lines,
checkpointed half-way, reloaded from the checkpoint (weights and optimizer
state) and trained on.  Afterwards a datastore of (context embedding ->
next char) pairs is built from the training text and the LM distribution is
interpolated with a k-nearest-neighbour distribution.  The report prints the
average log-likelihood per character (higher is better, always negative)
for the LM alone (lambda 0) and for several interpolation weights.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)

PORTS = ["valparaiso", "lisbon", "bergen", "hobart", "mombasa", "reykjavik", "halifax", "callao"]
WX = ["fair", "squally", "fog banks", "heavy swell", "calm", "gale from sw", "rain"]
SAILS = ["all plain sail", "reefed main", "storm jib", "topsails furled", "under bare poles"]


def line():
    return (f"day {rng.integers(1, 90)}: bound for {rng.choice(PORTS)}, wx {rng.choice(WX)}, "
            f"{rng.choice(SAILS)}, log {rng.integers(40, 220)} nm.\n")


train_text = "".join(line() for _ in range(1400))
test_text = "".join(line() for _ in range(40))
chars = sorted(set(train_text + test_text))
stoi = {c: i for i, c in enumerate(chars)}
V, CTX = len(chars), 10


def encode(s):
    ids = np.array([stoi[c] for c in s], dtype=np.int32)
    X = np.lib.stride_tricks.sliding_window_view(ids[:-1], CTX)
    return X, ids[CTX:]


Xtr, Ytr = encode(train_text)
Xte, Yte = encode(test_text)
print(f"vocab {V}, train positions {len(Xtr)}, test positions {len(Xte)}")


class CharMLP(nn.Module):
    def __init__(self, d=24, h=128):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.l1 = nn.Linear(CTX * d, h)
        self.l2 = nn.Linear(h, h)
        self.head = nn.Linear(h, V)

    def hidden(self, x):
        e = self.emb(x).reshape(x.shape[0], -1)
        return nn.relu(self.l2(nn.relu(self.l1(e))))

    def __call__(self, x):
        return self.head(self.hidden(x))


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def avg_loglik(logp, y):
    return float(mx.take_along_axis(logp, y[:, None], axis=1).mean())


Xtr_m, Ytr_m = mx.array(Xtr), mx.array(Ytr)
Xte_m, Yte_m = mx.array(Xte), mx.array(Yte)
BS, STEPS, HALF = 256, 600, 300


def make_opt():
    return optim.Adam(learning_rate=optim.cosine_decay(3e-3, STEPS, 2e-4))


def train(model, opt, start, stop):
    step = nn.value_and_grad(model, loss_fn)
    for it in range(start, stop):
        ids = mx.array(rng.integers(0, len(Xtr), BS))
        loss, g = step(model, Xtr_m[ids], Ytr_m[ids])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if (it + 1) % 100 == 0:
            te = loss_fn(model, Xte_m, Yte_m).item()
            print(f"step {it + 1:4d} lr {opt.learning_rate.item():.2e} "
                  f"train ce {loss.item():.3f} test ce {te:.3f}")


t0 = time.time()
model = CharMLP()
mx.eval(model.parameters())
opt = make_opt()
print(f"uniform baseline ce {np.log(V):.3f}")
train(model, opt, 0, HALF)

ckdir = tempfile.mkdtemp()
wpath = os.path.join(ckdir, "lm.safetensors")
opath = os.path.join(ckdir, "opt.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
print(f"checkpoint written at step {HALF}")

# resume into fresh objects, as a new process would
model = CharMLP()
model.load_weights(wpath)
opt = make_opt()
opt.state = tree_unflatten(list(mx.load(opath).items()))
print(f"resumed at optimizer step {opt.state['step'].item()} "
      f"test ce {loss_fn(model, Xte_m, Yte_m).item():.3f}")
train(model, opt, HALF, STEPS)

# datastore of hidden states -> next character (a random 24k-position subset)
store = mx.array(rng.choice(len(Xtr), 24000, replace=False))
keys = model.hidden(Xtr_m[store])
keys = keys / (mx.linalg.norm(keys, axis=-1, keepdims=True) + 1e-6)
vals = Ytr_m[store]
mx.eval(keys)

K, T = 32, 0.05
knn_parts = []
for i in range(0, len(Xte), 512):
    q = model.hidden(Xte_m[i:i + 512])
    q = q / (mx.linalg.norm(q, axis=-1, keepdims=True) + 1e-6)
    sims = q @ keys.T
    idx = mx.argpartition(-sims, K, axis=-1)[:, :K]
    w = mx.softmax(mx.take_along_axis(sims, idx, axis=-1) / T, axis=-1)
    onehot = (vals[idx][..., None] == mx.arange(V)).astype(mx.float32)
    knn_parts.append((w[..., None] * onehot).sum(axis=1))
    mx.eval(knn_parts[-1])
knn_p = mx.concatenate(knn_parts, axis=0)
lm_p = mx.softmax(model(Xte_m), axis=-1)

print("interpolation   avg log-lik/char")
for lam in [0.0, 0.1, 0.25, 0.5]:
    p = (1 - lam) * lm_p + lam * knn_p
    print(f"  lambda {lam:.2f}    {avg_loglik(mx.log(p + 1e-9), Yte_m):.4f}")
print(f"done in {time.time() - t0:.1f}s")
