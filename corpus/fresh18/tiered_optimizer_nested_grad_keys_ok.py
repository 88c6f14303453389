"""Multi-frequency ("nested learning"-style) Adam: parameters are split into tiers,
tier 0 updates every step, tier 1 every 2nd step, tier 2 every 4th step.
Toy task: next-token prediction on a repeating synthetic sequence with a small MLP.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(5)
mx.random.seed(5)
V, CTX = 24, 4
pattern = rng.integers(0, V, size=37)
stream = np.tile(pattern, 200)

class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, 16)
        self.hidden = nn.Linear(16 * CTX, 64)
        self.head = nn.Linear(64, V)

    def __call__(self, ctx):
        h = self.embed(ctx).reshape(ctx.shape[0], -1)
        return self.head(nn.relu(self.hidden(h)))

class TieredAdam:
    def __init__(self, tiers, lr=3e-3, b1=0.9, b2=0.999, eps=1e-8):
        self.tiers = tiers          # flat param name -> tier index
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        self.m, self.v, self.t = {}, {}, {}
        self.step = 0

    def apply(self, model, gradients):
        self.step += 1
        params = dict(tree_flatten(model.trainable_parameters()))
        gradients = dict(tree_flatten(gradients))   # grads are nested; match flat names
        updates = []
        for name, tier in self.tiers.items():
            if self.step % (2 ** tier) != 0 or name not in gradients:
                continue
            g = gradients[name]
            t = self.t.get(name, 0) + 1
            m = self.b1 * self.m.get(name, mx.zeros_like(g)) + (1 - self.b1) * g
            v = self.b2 * self.v.get(name, mx.zeros_like(g)) + (1 - self.b2) * g * g
            self.m[name], self.v[name], self.t[name] = m, v, t
            mhat = m / (1 - self.b1 ** t)
            vhat = v / (1 - self.b2 ** t)
            updates.append((name, params[name] - self.lr * mhat / (mx.sqrt(vhat) + self.eps)))
        if updates:
            model.update(tree_unflatten(updates))
        return len(updates)

    def state_arrays(self):
        return list(self.m.values()) + list(self.v.values())

model = LM()
mx.eval(model.parameters())
tiers = {}
for name, _ in tree_flatten(model.trainable_parameters()):
    tiers[name] = 0 if name.startswith("head") else (1 if name.startswith("hidden") else 2)
opt = TieredAdam(tiers)

def loss_fn(m, ctx, tgt):
    return mx.mean(nn.losses.cross_entropy(m(ctx), tgt))

vg = nn.value_and_grad(model, loss_fn)
idx_all = np.arange(CTX, len(stream))
for step in range(1, 601):
    idx = rng.choice(idx_all, size=64)
    ctx = mx.array(np.stack([stream[i - CTX:i] for i in idx]))
    tgt = mx.array(stream[idx])
    loss, grads = vg(model, ctx, tgt)
    opt.apply(model, grads)
    mx.eval(model.parameters(), loss, *opt.state_arrays())
    if step % 50 == 0:
        print(f"step {step:4d}  loss {loss.item():.4f}")
