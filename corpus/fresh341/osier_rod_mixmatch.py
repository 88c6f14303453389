"""Osier (basket willow) rod grading with MixMatch.

Four grades (whites / buffs / browns / cull) from 9 rod measurements taken at
the withy bed.  Only 24 rods were graded by the basket maker; 6000 more were
measured but never graded.  A supervised-only reference is trained first,
then MixMatch (K=2 augmentations, sharpening, MixUp across graded and
ungraded rods, EMA weights for evaluation).  The run is split in two
sessions with a safetensors checkpoint in between.
"""

import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

SEED = 11
N_GRADED, N_UNGRADED, N_TEST = 24, 6000, 2000
N_FEAT, N_CLASS = 9, 4
STEPS = 1200
HALF = STEPS // 2
BATCH_X, BATCH_U = 24, 64
K_AUG, T_SHARP, ALPHA = 2, 0.5, 0.75
LAMBDA_U_MAX, RAMP_STEPS = 30.0, 700
EMA_DECAY = 0.99
PEAK_LR, WARMUP = 2e-3, 120


def make_rods(rng, n):
    # each grade is two lumps in a 4-d "rod quality" space, seen through a
    # constant nonlinear 9-channel measurement rig plus sensor noise
    rig = np.random.default_rng(7)
    centres = rig.normal(0, 2.2, (N_CLASS * 2, 4))
    mix = rig.normal(0, 1, (4, N_FEAT)) / 2.0
    bend = rig.normal(0, 1, (4, N_FEAT)) / 2.0
    y = rng.integers(0, N_CLASS, n)
    lump = y * 2 + rng.integers(0, 2, n)
    z = centres[lump] + rng.normal(0, 0.9, (n, 4))
    x = z @ mix + 0.6 * np.tanh(z @ bend) + rng.normal(0, 0.15, (n, N_FEAT))
    flip = rng.uniform(size=n) < 0.03
    y = np.where(flip, rng.integers(0, N_CLASS, n), y)
    return x.astype(np.float32), y.astype(np.int32)


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, N_CLASS)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h)


def augment(x):
    jitter = 0.15 * mx.random.normal(x.shape)
    keep = (mx.random.uniform(shape=x.shape) > 0.1).astype(x.dtype)
    return (x + jitter) * keep


def sharpen(p, t):
    p = p ** (1.0 / t)
    return p / p.sum(axis=1, keepdims=True)


def soft_ce(logits, target):
    return -(target * nn.log_softmax(logits, axis=1)).sum(axis=1).mean()


def accuracy(model, x, y):
    pred = mx.argmax(model(x), axis=1)
    return (pred == y).astype(mx.float32).mean().item()


def lr_schedule():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, STEPS - WARMUP, 1e-5)],
        [WARMUP],
    )


def lambda_u(step):
    return LAMBDA_U_MAX * min(1.0, step / RAMP_STEPS)


def mixmatch_batch(model, xb, yb, ub):
    n = xb.shape[0]
    xa = augment(xb)
    u_views = [augment(ub) for _ in range(K_AUG)]
    q = sum(mx.softmax(model(u), axis=1) for u in u_views) / K_AUG
    q = mx.stop_gradient(sharpen(q, T_SHARP))
    px = mx.eye(N_CLASS)[yb]
    all_x = mx.concatenate([xa] + u_views, axis=0)
    all_p = mx.concatenate([px] + [q] * K_AUG, axis=0)
    lam = float(np.random.beta(ALPHA, ALPHA))
    lam = max(lam, 1.0 - lam)
    perm = mx.array(np.random.permutation(all_x.shape[0]))
    mixed_x = lam * all_x + (1 - lam) * all_x[perm]
    mixed_p = lam * all_p + (1 - lam) * all_p[perm]
    return mixed_x[:n], mixed_p[:n], mixed_x[n:], mixed_p[n:]


def loss_fn(model, mx_x, mx_p, mu_x, mu_p, w_u):
    lx = soft_ce(model(mx_x), mx_p)
    lu = mx.mean((mx.softmax(model(mu_x), axis=1) - mu_p) ** 2)
    return lx + w_u * lu, (lx, lu)


def supervised_reference(x_lab, y_lab, x_test, y_test):
    ref = Grader()
    opt = optim.Adam(learning_rate=2e-3)

    def ce(m, x, y):
        return nn.losses.cross_entropy(m(augment(x)), y, reduction="mean")

    vg = nn.value_and_grad(ref, ce)
    for _ in range(600):
        idx = mx.array(np.random.randint(0, x_lab.shape[0], BATCH_X))
        _, g = vg(ref, x_lab[idx], y_lab[idx])
        opt.update(ref, g)
        mx.eval(ref.parameters(), opt.state)
    return accuracy(ref, x_test, y_test)


def save_ckpt(path, model, ema, opt, step):
    model.save_weights(os.path.join(path, "model.safetensors"))
    ema.save_weights(os.path.join(path, "ema.safetensors"))
    state = dict(tree_flatten(opt.state))
    mx.save_safetensors(os.path.join(path, "opt.safetensors"), state,
                        metadata={"step": str(step)})


def load_ckpt(path):
    model, ema = Grader(), Grader()
    model.load_weights(os.path.join(path, "model.safetensors"))
    ema.load_weights(os.path.join(path, "ema.safetensors"))
    ema.freeze()
    state, meta = mx.load(os.path.join(path, "opt.safetensors"), return_metadata=True)
    opt = optim.Adam(learning_rate=lr_schedule())
    opt.state = tree_unflatten(list(state.items()))
    return model, ema, opt, int(meta["step"])


def run_session(model, ema, opt, start, stop, data):
    x_lab, y_lab, x_unl, x_test, y_test = data
    vg = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        xi = mx.array(np.random.randint(0, x_lab.shape[0], BATCH_X))
        ui = mx.array(np.random.randint(0, x_unl.shape[0], BATCH_U))
        mxx, mxp, mux, mup = mixmatch_batch(model, x_lab[xi], y_lab[xi], x_unl[ui])
        w = lambda_u(step)
        (loss, (lx, lu)), grads = vg(model, mxx, mxp, mux, mup, mx.array(w))
        opt.update(model, grads)
        ema.update(tree_map(lambda e, p: EMA_DECAY * e + (1 - EMA_DECAY) * p,
                            ema.parameters(), model.parameters()))
        mx.eval(model.parameters(), ema.parameters(), opt.state)
        if step % 100 == 0 or step == stop - 1:
            lr = opt.learning_rate.item()
            print(f"step {step:5d} | lr {lr:.2e} | w_u {w:6.2f} | Lx {lx.item():.4f} "
                  f"| Lu {lu.item():.4f} | total {loss.item():.4f} "
                  f"| test acc {accuracy(model, x_test, y_test):.3f} "
                  f"(ema {accuracy(ema, x_test, y_test):.3f})")


def main():
    t0 = time.time()
    np.random.seed(SEED)
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    x_all, y_all = make_rods(rng, N_GRADED + N_UNGRADED + N_TEST)
    mu, sd = x_all[:N_GRADED + N_UNGRADED].mean(0), x_all[:N_GRADED + N_UNGRADED].std(0)
    x_all = (x_all - mu) / sd
    x_lab, y_lab = mx.array(x_all[:N_GRADED]), mx.array(y_all[:N_GRADED])
    x_unl = mx.array(x_all[N_GRADED:N_GRADED + N_UNGRADED])
    x_test = mx.array(x_all[-N_TEST:])
    y_test = mx.array(y_all[-N_TEST:])
    counts = np.bincount(y_all[-N_TEST:], minlength=N_CLASS)
    print(f"graded {N_GRADED}, ungraded {N_UNGRADED}, test {N_TEST}; "
          f"test grade shares {np.round(counts / counts.sum(), 3).tolist()}")
    majority = counts.max() / counts.sum()

    print("training supervised-only reference on the graded rods ...")
    ref_acc = supervised_reference(x_lab, y_lab, x_test, y_test)
    print(f"reference: majority-grade acc {majority:.3f} | graded-only MLP acc {ref_acc:.3f}")

    model, ema = Grader(), Grader()
    ema.update(tree_map(lambda p: mx.array(p), model.parameters()))
    ema.freeze()
    opt = optim.Adam(learning_rate=lr_schedule())
    data = (x_lab, y_lab, x_unl, x_test, y_test)

    print(f"session 1: steps 0..{HALF - 1}")
    run_session(model, ema, opt, 0, HALF, data)
    ckpt_dir = tempfile.mkdtemp()
    save_ckpt(ckpt_dir, model, ema, opt, HALF)
    before = accuracy(ema, x_test, y_test)
    del model, ema, opt

    model, ema, opt, start = load_ckpt(ckpt_dir)
    after = accuracy(ema, x_test, y_test)
    print(f"checkpoint reloaded from {ckpt_dir} at step {start}; "
          f"ema acc before/after reload {before:.3f}/{after:.3f}; "
          f"optimizer step {opt.state['step'].item()}")
    print(f"session 2: steps {start}..{STEPS - 1}")
    run_session(model, ema, opt, start, STEPS, data)

    final_raw = accuracy(model, x_test, y_test)
    final_ema = accuracy(ema, x_test, y_test)
    print(f"final test acc: mixmatch {final_raw:.3f} | mixmatch ema {final_ema:.3f} "
          f"| graded-only {ref_acc:.3f} | majority {majority:.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
