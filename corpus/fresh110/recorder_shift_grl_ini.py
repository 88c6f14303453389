"""Transfer a bird-call classifier between two field recorder models.

Recorder "AX-1" clips are labelled (3 species), the newer "BZ-7" recorder has a
different microphone response (gain, tilt, hum) and is unlabelled at training time.
Domain-adversarial training: a gradient-reversal layer (mx.custom_function with its own
vjp) sits between the shared feature extractor and a recorder discriminator.
The reversal strength ramps 0 -> 1 with Ganin's schedule, so it is exactly 0 at step 0.
Report per epoch as INI-like sections. 'dom_acc' is the discriminator's accuracy at
telling the recorders apart: 50% means the features are recorder-invariant (the goal);
it is neither higher- nor lower-is-better.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_FEAT = 10
N_CLS = 3


def make_recorder(rng, n, recorder):
    y = rng.integers(0, N_CLS, size=n)
    centres = np.array([[1.2, -0.8, 0.5, 0.0, -1.0, 0.7, 0.2, -0.3, 0.9, -0.6],
                        [-0.9, 1.1, -0.4, 0.8, 0.3, -0.7, 0.6, 0.5, -0.2, 0.1],
                        [0.1, 0.2, 1.0, -1.1, 0.6, 0.4, -0.9, 0.8, 0.0, -0.5]])
    x = centres[y] + 0.75 * rng.standard_normal((n, N_FEAT))
    x[:, 3] += 0.5 * np.sin(2.0 * x[:, 0])
    if recorder == "BZ-7":
        tilt = np.linspace(-0.9, 0.9, N_FEAT)
        x = 1.35 * x + tilt + 0.4 * rng.standard_normal((n, 1))
        x[:, 7] += 1.1  # mains hum band
    return x.astype(np.float32), y.astype(np.int32)


@mx.custom_function
def reverse_grad(x, lam):
    return x


@reverse_grad.vjp
def reverse_grad_vjp(primals, cotangent, output):
    _, lam = primals
    return -lam * cotangent, mx.zeros_like(lam)


class Extractor(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 48)
        self.l2 = nn.Linear(48, 32)

    def __call__(self, x):
        return nn.relu(self.l2(nn.relu(self.l1(x))))


class DANN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = Extractor()
        self.species = nn.Linear(32, N_CLS)
        self.recorder = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))

    def __call__(self, x, lam):
        f = self.features(x)
        return self.species(f), self.recorder(reverse_grad(f, lam)).squeeze(-1)


def loss_fn(model, xs, ys, xt, lam):
    logits_s, dom_s = model(xs, lam)
    _, dom_t = model(xt, lam)
    cls = nn.losses.cross_entropy(logits_s, ys, reduction="mean")
    dom_logits = mx.concatenate([dom_s, dom_t])
    dom_y = mx.concatenate([mx.zeros(dom_s.shape), mx.ones(dom_t.shape)])
    dom = nn.losses.binary_cross_entropy(dom_logits, dom_y, reduction="mean")
    return cls + dom, (cls, dom)


def accuracy(model, x, y):
    logits, _ = model(x, mx.array(0.0))
    return float(mx.mean(mx.argmax(logits, axis=1) == y).item())


def domain_accuracy(model, xa, xb):
    _, da = model(xa, mx.array(0.0))
    _, db = model(xb, mx.array(0.0))
    hits = mx.sum(da < 0) + mx.sum(db >= 0)
    return float(hits.item()) / (xa.shape[0] + xb.shape[0])


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xs_np, ys_np = make_recorder(rng, 6000, "AX-1")
    xt_np, yt_np = make_recorder(rng, 6000, "BZ-7")
    xt_test_np, yt_test_np = make_recorder(rng, 1500, "BZ-7")
    xs_test_np, ys_test_np = make_recorder(rng, 1500, "AX-1")
    mu, sd = xs_np.mean(0), xs_np.std(0) + 1e-6
    norm = lambda a: mx.array((a - mu) / sd)
    xs, ys = norm(xs_np), mx.array(ys_np)
    xt = norm(xt_np)
    xs_te, ys_te = norm(xs_test_np), mx.array(ys_test_np)
    xt_te, yt_te = norm(xt_test_np), mx.array(yt_test_np)

    model = DANN()
    mx.eval(model.parameters())
    epochs, batch = 10, 100
    steps_per_epoch = xs.shape[0] // batch
    total = epochs * steps_per_epoch
    base_lr = 0.02
    opt = optim.SGD(learning_rate=base_lr, momentum=0.9)
    step_fn = nn.value_and_grad(model, loss_fn)

    print("[run]")
    print(f"source = AX-1 ({xs.shape[0]} labelled clips)")
    print(f"target = BZ-7 ({xt.shape[0]} unlabelled clips)")
    print(f"before_training_target_acc_pct = {100 * accuracy(model, xt_te, yt_te):.1f}")
    print()

    step = 0
    t0 = time.time()
    for epoch in range(1, epochs + 1):
        ps, pt = rng.permutation(xs.shape[0]), rng.permutation(xt.shape[0])
        cls_sum = dom_sum = 0.0
        for b in range(steps_per_epoch):
            p = step / total
            lam = 2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0
            opt.learning_rate = base_lr / (1.0 + 10.0 * p) ** 0.75
            ib = mx.array(ps[b * batch:(b + 1) * batch])
            jb = mx.array(pt[b * batch:(b + 1) * batch])
            (loss, (cls, dom)), grads = step_fn(model, xs[ib], ys[ib], xt[jb], mx.array(lam))
            if step == 0:
                leaves = tree_flatten(grads)
                dead = [k for k, g in leaves if float(mx.max(mx.abs(g)).item()) == 0.0]
                print("[gradients]")
                print(f"leaves = {len(leaves)}")
                print(f"zero_leaves = {dead}  # lambda is 0.000 at this first step")
                print()
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, cls, dom)
            cls_sum += cls.item()
            dom_sum += dom.item()
            step += 1
        print(f"[epoch {epoch}]")
        print(f"lambda = {lam:.3f}")
        print(f"lr = {opt.learning_rate.item():.5f}")
        print(f"species_ce = {cls_sum / steps_per_epoch:.4f}")
        print(f"recorder_bce = {dom_sum / steps_per_epoch:.4f}")
        print(f"source_test_acc_pct = {100 * accuracy(model, xs_te, ys_te):.1f}")
        print(f"target_test_acc_pct = {100 * accuracy(model, xt_te, yt_te):.1f}")
        print(f"dom_acc_pct = {100 * domain_accuracy(model, xs_te, xt_te):.1f}")
        print(f"elapsed_s = {time.time() - t0:.1f}")
        print()
    print("[done]")
    print(f"steps = {step}")


if __name__ == "__main__":
    main()
