# Scriptorium project: restore smudged neumes in copied chant lines. Three stages with a
# rising share of hidden neumes; weights and optimizer state saved after each stage and
# reloaded before the next one.
import os
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
PAD, HIDE = 0, 1
N = 10                     # neume shapes: punctum, virga, podatus, clivis, ...
V = N + 2
L = 20
base = rng.dirichlet(np.full(N, 0.3), size=N) + 2.0 * np.eye(N)[np.r_[1:N, 0]]
base /= base.sum(-1, keepdims=True)

def lines(n):
    X = np.zeros((n, L), dtype=np.int32)
    for i in range(n):
        s = [int(rng.integers(N))]
        for _ in range(L - 1):
            s.append(int(rng.choice(N, p=base[s[-1]])))
        X[i] = np.array(s) + 2
    return X

train_X, val_X = lines(2500), lines(300)

class Copyist(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.fwd = nn.GRU(d, d)
        self.bwd = nn.GRU(d, d)
        self.out = nn.Sequential(nn.Linear(2 * d, 64), nn.GELU(), nn.Linear(64, V))

    def __call__(self, x):
        e = self.emb(x)
        f = self.fwd(e)
        b = self.bwd(e[:, ::-1])[:, ::-1]
        return self.out(mx.concatenate([f, b], -1))

def loss_fn(model, inp, tgt, w):
    ce = nn.losses.cross_entropy(model(inp), tgt, reduction="none")
    return (ce * w).sum() / mx.maximum(w.sum(), 1.0)

def hide(X, rate, r):
    w = r.random(X.shape) < rate
    inp = np.where(w, HIDE, X).astype(np.int32)
    return inp, w.astype(np.float32)

ckpt_dir = tempfile.mkdtemp()
w_path = os.path.join(ckpt_dir, "copyist.safetensors")
o_path = os.path.join(ckpt_dir, "copyist_opt.safetensors")
stages = [(0.10, 120), (0.30, 120), (0.50, 120)]
r = np.random.default_rng(5)
vr = np.random.default_rng(99)
t0 = time.time()
global_step = 0
for si, (rate, n_steps) in enumerate(stages):
    model = Copyist()
    opt = optim.Adam(learning_rate=3e-3)
    if si > 0:
        model.load_weights(w_path)
        opt.init(model.trainable_parameters())
        opt.state = tree_unflatten(list(mx.load(o_path).items()))
        print(f"stage {si + 1}: resumed from checkpoint at step {global_step}, optimizer step {opt.step.item()}")
    mx.eval(model.parameters())
    step_fn = nn.value_and_grad(model, loss_fn)
    v_inp, v_w = hide(val_X, rate, vr)
    seen = []
    for k in range(n_steps):
        idx = r.integers(0, len(train_X), 48)
        X = train_X[idx]
        inp, w = hide(X, rate, r)
        loss, g = step_fn(model, mx.array(inp), mx.array(X), mx.array(w))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        global_step += 1
        seen.append(loss.item())
        if k == 0 or (k + 1) % 40 == 0:
            vl = loss_fn(model, mx.array(v_inp), mx.array(val_X), mx.array(v_w)).item()
            print(f"stage {si + 1} hide {rate:.2f} step {global_step:3d} train {np.mean(seen[-20:]):.3f} val {vl:.3f}")
    model.save_weights(w_path)
    mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))

ent = -(base * np.log(base)).sum(-1).mean()
logits = model(mx.array(v_inp))
acc = (((mx.argmax(logits, -1) == mx.array(val_X)) * mx.array(v_w)).sum() / mx.array(v_w).sum()).item()
print(f"final val accuracy on hidden neumes at 50% hiding: {acc:.3f} (chance {1 / N:.3f}); one-sided chain entropy {ent:.3f}")
print(f"done in {time.time() - t0:.1f}s")
