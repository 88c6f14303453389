# Synthetic gust generator: a tiny 1-D GAN learns the distribution of gust factors
# (peak gust / mean wind) recorded at a rooftop weathervane. Two players, two Adams.
import json, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
def real_gusts(n):  # bimodal: sheltered vs exposed wind directions
    m = rng.uniform(size=n) < 0.65
    return np.where(m, rng.normal(1.35, 0.08, n), rng.normal(1.85, 0.15, n)).astype(np.float32)[:, None]

def mlp(sizes):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers[:-1])

mx.random.seed(5)
G = mlp([4, 48, 48, 1]); D = mlp([1, 48, 48, 1])
optG = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])
optD = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])

def d_loss(Dm, real, fake):
    lr_, lf = Dm(real), Dm(fake)
    return (nn.losses.binary_cross_entropy(lr_, mx.ones_like(lr_), with_logits=True)
            + nn.losses.binary_cross_entropy(lf, mx.zeros_like(lf), with_logits=True))
def g_loss(Gm, Dm, z):
    lf = Dm(Gm(z))
    return nn.losses.binary_cross_entropy(lf, mx.ones_like(lf), with_logits=True)

d_vg = nn.value_and_grad(D, d_loss)
g_vg = nn.value_and_grad(G, lambda Gm, z: g_loss(Gm, D, z))

def w1(n=4000):
    fake = np.sort(np.array(G(mx.random.normal((n, 4))))[:, 0])
    return float(np.mean(np.abs(fake - np.sort(real_gusts(n)[:, 0]))))

bs = 128
z0 = mx.random.normal((bs, 4)); r0 = mx.array(real_gusts(bs))
_, gd = d_vg(D, r0, mx.stop_gradient(G(z0)))
_, gg = g_vg(G, z0)
for who, g in (("D", gd), ("G", gg)):
    lv = tree_flatten(g)
    print(json.dumps({"event": "grad_check", "net": who, "leaves": len(lv),
                      "zero": [k for k, v in lv if float(mx.abs(v).max()) == 0.0]}))
print(json.dumps({"event": "start", "w1_to_real": round(w1(), 4), "note": "w1 lower is better; at equilibrium d_bce = 2 ln 2 = 1.386, g_bce = ln 2 = 0.693"}))
t0 = time.perf_counter()
dl_sum = gl_sum = 0.0
for it in range(1, 3001):
    real = mx.array(real_gusts(bs))
    fake = mx.stop_gradient(G(mx.random.normal((bs, 4))))
    dl, gdd = d_vg(D, real, fake); optD.update(D, gdd)
    gl, ggg = g_vg(G, mx.random.normal((bs, 4))); optG.update(G, ggg)
    mx.eval(dl, gl, D.parameters(), G.parameters(), optD.state, optG.state)
    dl_sum += dl.item(); gl_sum += gl.item()
    if it % 300 == 0:
        s = np.array(G(mx.random.normal((4000, 4))))[:, 0]
        print(json.dumps({"event": "train", "iter": it, "d_bce": round(dl_sum / 300, 4), "g_bce": round(gl_sum / 300, 4),
                          "w1_to_real": round(w1(), 4), "fake_mean": round(float(s.mean()), 3),
                          "exposed_share_pct": round(100 * float((s > 1.6).mean()), 1),
                          "secs": round(time.perf_counter() - t0, 1)}))
        dl_sum = gl_sum = 0.0
print(json.dumps({"event": "done", "real_mean": 1.5235, "real_exposed_share_pct": 35.0}))
