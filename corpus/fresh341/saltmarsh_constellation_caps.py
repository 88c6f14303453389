"""Part-to-object capsules on 2-D constellations: which template, and its pose.

Each sample is 5 labelled points: one of 3 templates under a random
similarity transform. Part capsules vote for 3 object capsules, routing by
agreement picks the object, and a pose head predicts (s*cos, s*sin, tx, ty)
as a Gaussian with learned variance. The pose targets carry sensor noise of
known sigma, so the Gaussian NLL has a floor below zero.

Stage A trains only the classifier (pose head frozen); stage B adds the pose
NLL. SGD with momentum and cosine warm restarts; logging only at the end of
each restart cycle.
"""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SEED = 11
K = 3            # templates / object capsules
P = 5            # points per constellation
D = 8            # object capsule dimension
POSE_DIM = 4
SIGMA = 0.05     # sensor noise on pose targets
BATCH = 128
STEPS_PER_EPOCH = 12
CYCLE = 96       # steps per warm-restart cycle
EPOCHS = 64
STAGE_B = 8      # epoch at which the pose head joins

rng = np.random.default_rng(SEED)
TEMPLATES = rng.uniform(-1, 1, size=(K, P, 2)).astype(np.float32)


def sample(n):
    k = rng.integers(0, K, size=n)
    th = rng.uniform(-math.pi, math.pi, size=n)
    s = rng.uniform(0.6, 1.4, size=n)
    t = rng.uniform(-1, 1, size=(n, 2))
    c, sn = np.cos(th), np.sin(th)
    R = np.stack([np.stack([c, -sn], -1), np.stack([sn, c], -1)], -2)  # [n,2,2]
    pts = s[:, None, None] * np.einsum("nij,npj->npi", R, TEMPLATES[k]) + t[:, None]
    pts += 0.01 * rng.standard_normal(pts.shape)
    pose = np.stack([s * c, s * sn, t[:, 0], t[:, 1]], -1)
    pose_obs = pose + SIGMA * rng.standard_normal(pose.shape)
    return pts.astype(np.float32), k.astype(np.int32), pose_obs.astype(np.float32)


Xva, Kva, Pva = sample(1024)
FLOOR = 0.5 * math.log(2 * math.pi * SIGMA ** 2) + 0.5
# baseline: one Gaussian fitted to the pose targets, ignoring the input
mu0, sd0 = Pva.mean(0), Pva.std(0)
BASE_NLL = float(np.mean(0.5 * np.log(2 * np.pi * sd0 ** 2) + 0.5))


def squash(s, axis=-1):
    n2 = (s * s).sum(axis, keepdims=True)
    return s * (n2 / (1.0 + n2)) / mx.sqrt(n2 + 1e-8)


class ConstellationCaps(nn.Module):
    def __init__(self):
        super().__init__()
        self.part = nn.Sequential(nn.Linear(2 + P, 32), nn.GELU(), nn.Linear(32, 16))
        self.W = mx.random.normal((P, K, 16, D)) * 0.1
        self.pose_head = nn.Sequential(nn.Linear(K * D + 2 * P, 64), nn.GELU(),
                                       nn.Linear(64, 2 * POSE_DIM))

    def __call__(self, pts, iters=3):
        B = pts.shape[0]
        ids = mx.broadcast_to(mx.eye(P)[None], (B, P, P))
        u = self.part(mx.concatenate([pts, ids], -1))            # [B,P,16]
        u_hat = mx.einsum("bpi,pkid->bpkd", u, self.W)          # [B,P,K,D]
        logits = mx.zeros((B, P, K))
        for it in range(iters):
            c = mx.softmax(logits, axis=-1)
            v = squash((c[..., None] * u_hat).sum(1))            # [B,K,D]
            if it < iters - 1:
                logits = logits + (u_hat * v[:, None]).sum(-1)
        lengths = mx.sqrt((v * v).sum(-1) + 1e-8)                # [B,K]
        h = mx.concatenate([v.reshape(B, -1), pts.reshape(B, -1)], -1)
        out = self.pose_head(h)
        mean, logvar = out[:, :POSE_DIM], mx.clip(out[:, POSE_DIM:], -9.0, 4.0)
        return lengths, mean, logvar


def gauss_nll(mean, logvar, y):
    return (0.5 * (math.log(2 * math.pi) + logvar + (y - mean) ** 2 / mx.exp(logvar))).mean()


def loss_fn(model, pts, k, pose, use_pose):
    lengths, mean, logvar = model(pts)
    ce = nn.losses.cross_entropy(8.0 * lengths, k, reduction="mean")
    nll = gauss_nll(mean, logvar, pose)
    total = ce + nll if use_pose else ce
    return total, (ce, nll)


def sgdr(eta_max, eta_min, period):
    def f(step):
        t = mx.remainder(step, period).astype(mx.float32)
        return eta_min + 0.5 * (eta_max - eta_min) * (1.0 + mx.cos(math.pi * t / period))
    return f


mx.random.seed(SEED)
model = ConstellationCaps()
opt = optim.SGD(learning_rate=sgdr(0.02, 2e-4, CYCLE), momentum=0.9)
model.pose_head.freeze()
lg = nn.value_and_grad(model, loss_fn)


def evaluate():
    lengths, mean, logvar = model(mx.array(Xva))
    acc = (mx.argmax(lengths, 1) == mx.array(Kva)).astype(mx.float32).mean().item()
    nll = gauss_nll(mean, logvar, mx.array(Pva)).item()
    rmse = mx.sqrt(((mean - mx.array(Pva)) ** 2).mean()).item()
    return acc, nll, rmse


print(f"val={len(Xva)} NLL floor (sigma={SIGMA}) = {FLOOR:.3f}/dim, "
      f"input-free Gaussian baseline NLL = {BASE_NLL:.3f}/dim")
acc, nll, rmse = evaluate()
print(f"init: acc={acc:.3f} pose_nll={nll:.3f} pose_rmse={rmse:.3f}")
step = 0
quiet = 0
for ep in range(EPOCHS):
    use_pose = ep >= STAGE_B
    if ep == STAGE_B:
        model.pose_head.unfreeze()
        opt.init(model.trainable_parameters())   # momentum buffers for the new params
        print(f"-- stage B at epoch {ep + 1}: pose head unfrozen, NLL term added")
    ce_sum = nll_sum = 0.0
    for _ in range(STEPS_PER_EPOCH):
        pts, k, pose = sample(BATCH)
        (tot, (ce, nl)), g = lg(model, mx.array(pts), mx.array(k), mx.array(pose), use_pose)
        g, gnorm = optim.clip_grad_norm(g, max_norm=2.0)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, tot)
        ce_sum += ce.item()
        nll_sum += nl.item()
        step += 1
        quiet += 1
        if step % CYCLE == 0:
            acc, nll, rmse = evaluate()
            print(f"ep {ep + 1:2d} step {step:4d} (quiet for {quiet} steps) stage={'B' if use_pose else 'A'} "
                  f"train_ce={ce_sum / STEPS_PER_EPOCH:.4f} train_nll={nll_sum / STEPS_PER_EPOCH:+.3f} | "
                  f"val acc={acc:.3f} nll={nll:+.3f} rmse={rmse:.4f} lr_next={opt.learning_rate.item():.4f}")
            quiet = 0

acc, nll, rmse = evaluate()
print(f"final: acc={acc:.3f} pose_nll={nll:+.3f} (floor {FLOOR:+.3f}, baseline {BASE_NLL:+.3f}) "
      f"pose_rmse={rmse:.4f} (sigma {SIGMA})")
