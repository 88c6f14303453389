"""Bar-tailed godwit ringing data: which staging population does a bird come from?

A joint energy-based classifier (JEM): the classifier logits f(x) double as an
unnormalised density, E(x) = -logsumexp_y f(x)[y].  Each update mixes the
cross-entropy on labelled birds with a contrastive term whose negatives come
from short-run SGLD chains kept in a persistent replay buffer.
Run is split into two sittings with a checkpoint written and read back between.
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ---------------------------------------------------------------- data
# (bill length mm, wing chord mm) for three staging populations
POPS = ["wadden", "yellow-sea", "alaska"]
MEANS = np.array([[83.0, 222.0], [95.0, 236.0], [104.0, 228.0]])
COVS = [np.array([[16.0, 9.0], [9.0, 30.0]]),
        np.array([[20.0, -6.0], [-6.0, 26.0]]),
        np.array([[14.0, 7.0], [7.0, 20.0]])]
WEIGHTS = np.array([0.45, 0.30, 0.25])


def draw(n):
    y = rng.choice(3, size=n, p=WEIGHTS)
    x = np.empty((n, 2))
    for k in range(3):
        idx = np.where(y == k)[0]
        x[idx] = rng.multivariate_normal(MEANS[k], COVS[k], size=len(idx))
    return x, y


x_tr, y_tr = draw(6000)
x_te, y_te = draw(1500)
mu, sd = x_tr.mean(0), x_tr.std(0)


def std(x):
    return ((x - mu) / sd).astype(np.float32)


def true_logpdf(x_raw):
    out = []
    for k in range(3):
        d = x_raw - MEANS[k]
        inv = np.linalg.inv(COVS[k])
        q = np.einsum("ni,ij,nj->n", d, inv, d)
        out.append(np.log(WEIGHTS[k]) - 0.5 * q - 0.5 * np.log(np.linalg.det(COVS[k])) - np.log(2 * np.pi))
    return np.logaddexp.reduce(np.stack(out, 1), axis=1)


Xtr, Ytr = mx.array(std(x_tr)), mx.array(y_tr.astype(np.int32))
Xte = mx.array(std(x_te))

# nearest-centroid reference on the same standardised features
cent = np.stack([std(x_tr)[y_tr == k].mean(0) for k in range(3)])
nc_pred = np.argmin(((std(x_te)[:, None, :] - cent[None]) ** 2).sum(-1), 1)
NC_ACC = 100.0 * (nc_pred == y_te).mean()
DATA_LL = true_logpdf(x_te).mean()


# ---------------------------------------------------------------- model
class Classifier(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.l1 = nn.Linear(2, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 3)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h)


def energy(model, x):
    return -mx.logsumexp(model(x), axis=1)


TOTAL, HALF, BATCH, REPORT = 800, 400, 128, 100
SGLD_STEPS, SGLD_ALPHA, SGLD_SIGMA, REINIT = 10, 0.1, 0.05, 0.05
BUF_SIZE = 4000


def make_schedule():
    warm = optim.linear_schedule(0.0, 1e-3, 80)
    cos = optim.cosine_decay(1e-3, TOTAL - 80, 1e-4)
    return optim.join_schedules([warm, cos], [80])


def sgld(model, x0):
    gfn = mx.grad(lambda z: energy(model, z).sum())
    x = x0
    for _ in range(SGLD_STEPS):
        x = x - SGLD_ALPHA * gfn(x) + SGLD_SIGMA * mx.random.normal(x.shape)
    return mx.stop_gradient(x)


def loss_fn(model, xb, yb, xpos, xneg):
    ce = nn.losses.cross_entropy(model(xb), yb, reduction="mean")
    e_pos = energy(model, xpos)
    e_neg = energy(model, xneg)
    gen = e_pos.mean() - e_neg.mean()
    reg = 0.05 * (e_pos ** 2 + e_neg ** 2).mean()
    return ce + gen + reg, (ce, gen)


def report(model, buffer, step, opt, sitting, t0, run_ce, run_gen):
    logits = model(Xte)
    probs = np.array(mx.softmax(logits, axis=1))
    pred = probs.argmax(1)
    acc = 100.0 * (pred == y_te).mean()
    conf = probs.max(1)
    bins = np.linspace(0, 1, 11)
    ece = 0.0
    for lo, hi in zip(bins[:-1], bins[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs((pred[m] == y_te[m]).mean() - conf[m].mean())
    buf_raw = np.array(buffer) * sd + mu
    buf_ll = true_logpdf(buf_raw).mean()
    lr = float(opt.learning_rate)
    print(f"[sitting {sitting}] step {step:4d}/{TOTAL}  lr {lr:.2e}  {time.time() - t0:5.1f}s")
    print(f"    ce {run_ce:.4f}   contrastive {run_gen:+.4f}")
    print(f"    test acc {acc:5.1f}%  (nearest centroid {NC_ACC:5.1f}%)   ece {100 * ece:4.1f}%")
    print(f"    buffer true log-lik {buf_ll:7.2f}   (held-out birds {DATA_LL:7.2f})")


def train(model, opt, buffer, start, stop, sitting, t0):
    lg = nn.value_and_grad(model, loss_fn)
    ce_acc, gen_acc, n_acc = 0.0, 0.0, 0
    for step in range(start + 1, stop + 1):
        bi = mx.array(rng.integers(0, Xtr.shape[0], BATCH))
        xb, yb = Xtr[bi], Ytr[bi]
        pi = mx.array(rng.integers(0, Xtr.shape[0], BATCH))
        xpos = Xtr[pi]
        ki = rng.choice(BUF_SIZE, BATCH, replace=False)
        ki_mx = mx.array(ki)
        start_pts = buffer[ki_mx]
        fresh = mx.random.uniform(-3.0, 3.0, start_pts.shape)
        keep = mx.array((rng.random(BATCH) > REINIT)[:, None])
        start_pts = mx.where(keep, start_pts, fresh)
        xneg = sgld(model, start_pts)
        buffer[ki_mx] = xneg
        (loss, (ce, gen)), grads = lg(model, xb, yb, xpos, xneg)
        if step == 1:
            flat = tree_flatten(grads)
            nz = sum(int(mx.any(g != 0).item()) for _, g in flat)
            print(f"    grad leaves with signal: {nz}/{len(flat)}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, buffer, loss)
        ce_acc += ce.item()
        gen_acc += gen.item()
        n_acc += 1
        if step % REPORT == 0 or step == 1:
            report(model, buffer, step, opt, sitting, t0, ce_acc / n_acc, gen_acc / n_acc)
            ce_acc, gen_acc, n_acc = 0.0, 0.0, 0
    return buffer


def main():
    t0 = time.time()
    print(f"godwit staging populations: {len(x_tr)} ringed birds, {len(x_te)} held out, pops {POPS}")
    model = Classifier()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=make_schedule())
    buffer = mx.random.uniform(-3.0, 3.0, (BUF_SIZE, 2))
    buffer = train(model, opt, buffer, 0, HALF, 1, t0)

    with tempfile.TemporaryDirectory() as tmp:
        model.save_weights(os.path.join(tmp, "clf.safetensors"))
        mx.save_safetensors(os.path.join(tmp, "opt.safetensors"), dict(tree_flatten(opt.state)))
        mx.save(os.path.join(tmp, "buffer.npy"), buffer)
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump({"step": HALF}, f)
        check = float(mx.mean(energy(model, Xte)).item())
        del model, opt, buffer
        print("--- checkpoint written, objects dropped, rebuilding ---")

        model = Classifier()
        model.load_weights(os.path.join(tmp, "clf.safetensors"))
        opt = optim.Adam(learning_rate=make_schedule())
        opt.state = tree_unflatten(list(mx.load(os.path.join(tmp, "opt.safetensors")).items()))
        buffer = mx.load(os.path.join(tmp, "buffer.npy"))
        with open(os.path.join(tmp, "meta.json")) as f:
            start = json.load(f)["step"]
        again = float(mx.mean(energy(model, Xte)).item())
        print(f"    mean test energy before {check:+.5f} after {again:+.5f}; optimizer step {int(opt.step.item())}")

    train(model, opt, buffer, start, TOTAL, 2, t0)
    print(f"finished in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
