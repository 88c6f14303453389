"""Metric learning with a triplet margin loss on synthetic identities; logs JSON lines with the
loss, the fraction of active triplets and a nearest-neighbour recall@1 on held-out samples."""
import json

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
IDS, D, E = 40, 24, 8
protos = mx.random.normal((IDS, D))


def sample(ids, noise=0.9):
    return protos[ids] + noise * mx.random.normal((ids.shape[0], D))


class Embed(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(D, 64), nn.GELU(), nn.Linear(64, E))

    def __call__(self, x):
        z = self.net(x)
        return z / mx.sqrt((z * z).sum(-1, keepdims=True) + 1e-8)


model = Embed()
opt = optim.AdamW(learning_rate=1e-3, weight_decay=1e-4)


def triplet(m, a, p, n, margin=0.3):
    za, zp, zn = m(a), m(p), m(n)
    d_ap = ((za - zp) ** 2).sum(-1)
    d_an = ((za - zn) ** 2).sum(-1)
    hinge = mx.maximum(d_ap - d_an + margin, 0.0)
    return hinge.mean(), (hinge > 0).mean()


def recall_at_1():
    ids = mx.arange(IDS)
    gallery, query = model(sample(ids)), model(sample(ids))
    nn_idx = mx.argmax(query @ gallery.T, axis=1)
    return (nn_idx == ids).mean().item()


step_fn = nn.value_and_grad(model, triplet)
for step in range(1, 1501):
    anc = mx.random.randint(0, IDS, (64,))
    neg = (anc + mx.random.randint(1, IDS, (64,))) % IDS
    (loss, active), g = step_fn(model, sample(anc), sample(anc), sample(neg))
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss, active)
    if step % 150 == 0:
        print(json.dumps({"step": step, "triplet_loss": round(loss.item(), 4),
                          "active_frac": round(active.item(), 3),
                          "recall@1": round(recall_at_1(), 3)}), flush=True)
