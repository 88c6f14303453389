"""Apiary acoustics: classify colony state (queenright / queenless / swarming)
from 8 hive-hum features with only 45 labelled recordings, using a
semi-supervised GAN (the discriminator is a 3-class classifier whose
'real' logit is logsumexp of the class logits). The run checkpoints halfway,
rebuilds everything from disk and continues."""
import json, os, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)
K, D, Z = 3, 8, 6
centers = rng.normal(0, 1.6, size=(K, D)).astype(np.float32)

def sample(n):
    c = rng.integers(0, K, n)
    x = centers[c] + rng.normal(0, 1.0, (n, D)).astype(np.float32)
    return x, c

X_unl, _ = sample(6000)
X_lab, y_lab = sample(45)
X_te, y_te = sample(2000)
mu, sd = X_unl.mean(0), X_unl.std(0)
norm = lambda a: mx.array((a - mu) / sd)
X_unl, X_lab, X_te = norm(X_unl), norm(X_lab), norm(X_te)
y_lab, y_te = mx.array(y_lab), mx.array(y_te)

def build():
    g = nn.Sequential(nn.Linear(Z, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, D))
    d = nn.Sequential(nn.Linear(D, 64), nn.LeakyReLU(0.2), nn.Dropout(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, K))
    mx.eval(g.parameters(), d.parameters())
    return g, d, optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999]), optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])

def d_loss(d, g, xl, yl, xu, z):
    sup = nn.losses.cross_entropy(d(xl), yl, reduction="mean")
    lse_r = mx.logsumexp(d(xu), axis=-1)
    lse_f = mx.logsumexp(d(mx.stop_gradient(g(z))), axis=-1)
    unsup = mx.mean(nn.softplus(-lse_r)) + mx.mean(nn.softplus(lse_f))
    return sup + unsup

def g_loss(g, d, xu, z):
    # feature matching on the discriminator's penultimate layer
    feat = lambda x: d.layers[4](d.layers[3](d.layers[2](d.layers[1](d.layers[0](x)))))
    return mx.mean((mx.mean(feat(xu), 0) - mx.mean(feat(g(z)), 0)) ** 2)

def save(path, g, d, go, do, step):
    g.save_weights(os.path.join(path, "g.safetensors"))
    d.save_weights(os.path.join(path, "d.safetensors"))
    mx.save_safetensors(os.path.join(path, "go.safetensors"), dict(tree_flatten(go.state)))
    mx.save_safetensors(os.path.join(path, "do.safetensors"), dict(tree_flatten(do.state)))
    json.dump({"step": step, "rng": rng.bit_generator.state}, open(os.path.join(path, "meta.json"), "w"))

def load(path):
    g, d, go, do = build()
    g.load_weights(os.path.join(path, "g.safetensors"))
    d.load_weights(os.path.join(path, "d.safetensors"))
    go.state = tree_unflatten(list(mx.load(os.path.join(path, "go.safetensors")).items()))
    do.state = tree_unflatten(list(mx.load(os.path.join(path, "do.safetensors")).items()))
    meta = json.load(open(os.path.join(path, "meta.json")))
    rng.bit_generator.state = meta["rng"]
    return g, d, go, do, meta["step"]

def test_acc(d):
    d.eval()
    a = mx.mean(mx.argmax(d(X_te), -1) == y_te).item()
    d.train()
    return a

# baseline: same classifier trained on the 45 labels alone
_, base, _, bopt = build()
bvg = nn.value_and_grad(base, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
for _ in range(400):
    l, gr = bvg(base, X_lab, y_lab)
    bopt.update(base, gr)
    mx.eval(base.parameters(), bopt.state)
base_acc = test_acc(base)
print(f"baseline (45 labels only, supervised): test_acc={base_acc:.3f}; chance={1/K:.3f}")

TOTAL, HALF, B = 1600, 800, 100
ckpt = tempfile.mkdtemp()
g, d, go, do = build()
start = 0
for phase in ("first", "resumed"):
    if phase == "resumed":
        del g, d, go, do
        g, d, go, do, start = load(ckpt)
        print(f"-- resumed from {ckpt} at step {start}")
    dvg = nn.value_and_grad(d, lambda m, xl, yl, xu, z: d_loss(m, g, xl, yl, xu, z))
    gvg = nn.value_and_grad(g, lambda m, xu, z: g_loss(m, d, xu, z))
    end = HALF if phase == "first" else TOTAL
    for step in range(start + 1, end + 1):
        iu = mx.array(rng.integers(0, X_unl.shape[0], B))
        z = mx.random.normal((B, Z))
        ld, gd = dvg(d, X_lab, y_lab, X_unl[iu], z)
        do.update(d, gd)
        iu2 = mx.array(rng.integers(0, X_unl.shape[0], B))
        lg, gg = gvg(g, X_unl[iu2], mx.random.normal((B, Z)))
        go.update(g, gg)
        mx.eval(g.parameters(), d.parameters(), go.state, do.state)
        if step % 200 == 0:
            print(f"step {step:5d} d_loss={ld.item():.4f} g_featmatch={lg.item():.5f} test_acc={test_acc(d):.3f}")
    if phase == "first":
        save(ckpt, g, d, go, do, end)
        print(f"checkpoint written at step {end}")

final = test_acc(d)
print(f"final: ssgan test_acc={final:.3f} vs supervised baseline {base_acc:.3f} (chance {1/K:.3f})")
