"""Unoriented surface-normal estimation on scanned stone-facet patches.

Quarry survey scanner: each sample is a local patch of 48 points lifted from a
dressed stone block (plane, drum, dome, saddle).  A small EdgeConv network
(k-NN graph on the coordinates) predicts, per point, an unoriented normal and a
log-concentration.  Loss is a Watson-style negative log-likelihood, so it goes
below zero once the network is both accurate and confident.  Two stages:
clean patches, then patches with scanner noise.  Output is gnuplot-friendly:
'#'-comment lines and whitespace-separated data blocks.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

N_PTS, K = 48, 10
rng = np.random.default_rng(7)


def random_rotation(r):
    q = r.normal(size=4)
    q /= np.linalg.norm(q)
    a, b, c, d = q
    return np.array([
        [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
        [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
        [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d],
    ], dtype=np.float32)


def make_patch(r, noise):
    kind = r.integers(4)
    uv = r.uniform(-1, 1, size=(N_PTS, 2)).astype(np.float32)
    u, v = uv[:, 0], uv[:, 1]
    if kind == 0:                                  # plane
        p = np.stack([u, v, 0 * u], -1)
        n = np.tile([0, 0, 1.0], (N_PTS, 1))
    elif kind == 1:                                # drum (cylinder, radius R)
        R = r.uniform(0.8, 2.0)
        th = u / R
        p = np.stack([R * np.sin(th), v, R * np.cos(th) - R], -1)
        n = np.stack([np.sin(th), 0 * v, np.cos(th)], -1)
    else:                                          # dome / saddle quadric
        a = r.uniform(0.2, 0.6)
        b = a if kind == 2 else -r.uniform(0.2, 0.6)
        z = a * u * u + b * v * v
        p = np.stack([u, v, z], -1)
        n = np.stack([-2 * a * u, -2 * b * v, np.ones_like(u)], -1)
    n = n / np.linalg.norm(n, axis=-1, keepdims=True)
    rot = random_rotation(r)
    p = p @ rot.T
    n = n @ rot.T
    p = p + noise * r.normal(size=p.shape)
    return p.astype(np.float32), n.astype(np.float32)


def make_batch(r, size, noise):
    ps, ns = zip(*(make_patch(r, noise) for _ in range(size)))
    return np.stack(ps), np.stack(ns)


def knn_idx(x, k):
    sq = mx.sum(x * x, axis=-1)
    d = sq[:, :, None] + sq[:, None, :] - 2 * (x @ x.transpose(0, 2, 1))
    return mx.stop_gradient(mx.argsort(mx.stop_gradient(d), axis=-1)[:, :, :k])


def gather_neighbours(f, idx):
    b, n, k = idx.shape
    c = f.shape[-1]
    flat = (idx + (mx.arange(b) * n)[:, None, None]).reshape(-1)
    return f.reshape(b * n, c)[flat].reshape(b, n, k, c)


class EdgeConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.l1 = nn.Linear(2 * cin, cout)
        self.l2 = nn.Linear(cout, cout)

    def __call__(self, f, idx):
        nb = gather_neighbours(f, idx)
        ctr = mx.broadcast_to(f[:, :, None, :], nb.shape)
        e = mx.concatenate([ctr, nb - ctr], axis=-1)
        e = self.l2(nn.gelu(self.l1(e)))
        return mx.max(e, axis=2)


class NormalNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.ec1 = EdgeConv(3, 48)
        self.ec2 = EdgeConv(48, 48)
        self.head = nn.Sequential(nn.Linear(96 + 48, 64), nn.GELU(), nn.Linear(64, 4))

    def __call__(self, x):
        x = x - mx.mean(x, axis=1, keepdims=True)
        idx = knn_idx(x, K)
        f1 = self.ec1(x, idx)
        f2 = self.ec2(f1, idx)
        glob = mx.broadcast_to(mx.max(f2, axis=1, keepdims=True), f2.shape)
        out = self.head(mx.concatenate([f1, f2, glob], axis=-1))
        n = out[..., :3] / (mx.linalg.norm(out[..., :3], axis=-1, keepdims=True) + 1e-6)
        return n, mx.clip(out[..., 3], -4.0, 8.0)


def watson_nll(model, x, n_true):
    n, log_kappa = model(x)
    cos2 = mx.sum(n * n_true, axis=-1) ** 2
    return mx.mean(mx.exp(log_kappa) * (1.0 - cos2) - 0.5 * log_kappa)


def angle_deg(n, n_true):
    c = np.clip(np.abs(np.sum(n * n_true, -1)), 0, 1)
    return np.degrees(np.arccos(c))


def pca_normals(p, k=K):
    d = ((p[:, :, None, :] - p[:, None, :, :]) ** 2).sum(-1)
    idx = np.argsort(d, -1)[:, :, :k]
    nb = np.take_along_axis(p[:, None, :, :].repeat(p.shape[1], 1), idx[..., None].repeat(3, -1), axis=2)
    nb = nb - nb.mean(2, keepdims=True)
    cov = np.einsum("bnki,bnkj->bnij", nb, nb)
    _, vecs = np.linalg.eigh(cov)
    return vecs[..., :, 0]


def main():
    mx.random.seed(3)
    model = NormalNet()
    steps_per_stage, warm = 150, 30
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, 2 * steps_per_stage - warm, 1e-5)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    vg = nn.value_and_grad(model, watson_nll)

    evals = {s: make_batch(np.random.default_rng(100 + i), 32, s) for i, s in enumerate((0.0, 0.02))}
    print("# quarry facet normals: EdgeConv k=%d, %d points/patch" % (K, N_PTS))
    print("# baselines (mean unoriented angle, degrees):")
    for s, (p, n) in evals.items():
        rnd = rng.normal(size=n.shape)
        rnd /= np.linalg.norm(rnd, axis=-1, keepdims=True)
        print("#   noise=%.2f  random=%.2f  local-PCA=%.2f" % (s, angle_deg(rnd, n).mean(), angle_deg(pca_normals(p), n).mean()))
    print("# columns: step stage lr nll_window eval_angle_clean eval_angle_noisy seconds")

    t0 = time.time()
    window = []
    step = 0
    for stage, noise in enumerate((0.0, 0.02), start=1):
        print(f"\n\n# stage {stage}: scanner noise {noise}")
        for _ in range(steps_per_stage):
            step += 1
            p, n = make_batch(rng, 8, noise)
            loss, grads = vg(model, mx.array(p), mx.array(n))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            window.append(loss.item())
            if step == 1 or step % 50 == 0:
                ang = []
                for s, (pe, ne) in evals.items():
                    pred, _ = model(mx.array(pe))
                    ang.append(angle_deg(np.array(pred), ne).mean())
                lr = float(sched(step - 1))
                print(f"{step:5d} {stage:2d} {lr:.6f} {np.mean(window):9.4f} {ang[0]:7.2f} {ang[1]:7.2f} {time.time() - t0:6.1f}")
                window = []

    pred, lk = model(mx.array(evals[0.02][0]))
    err = angle_deg(np.array(pred), evals[0.02][1])
    kappa = np.exp(np.array(lk))
    lo = err[kappa > np.median(kappa)].mean()
    hi = err[kappa <= np.median(kappa)].mean()
    print(f"\n# confident half mean angle {lo:.2f} deg, less confident half {hi:.2f} deg")


if __name__ == "__main__":
    main()
