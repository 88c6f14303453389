"""Community-radio jingle picker: distil a preference reward model into a small one.

Stage "teacher": a 10-64-64-1 reward model learns from listener A/B votes
(Bradley-Terry, hard labels).
Stage "student": a 10-12-1 model is fitted to the teacher's pairwise preference
probabilities on fresh unlabeled pairs (soft-label BCE).  The pairs get harder
over the stage (closer pairs are let in step by step), so its loss climbs by design; a constant
held-out probe set tracks progress.
Finally both models pick the best of 8 candidate jingles and are compared to a
random pick and to the hidden listener utility.
"""

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SEED = 2718
N_FEAT = 10
POOL = 4000


def utility(x):
    return (0.8 * x[:, 0] - 0.6 * x[:, 1] + 0.5 * np.tanh(2 * x[:, 2]) + 0.4 * x[:, 3] * x[:, 4]
            - 0.3 * np.abs(x[:, 5]) + 0.25 * x[:, 6])


class Scorer(nn.Module):
    def __init__(self, widths):
        super().__init__()
        dims = [N_FEAT] + widths
        self.hidden = [nn.Linear(i, o) for i, o in zip(dims[:-1], dims[1:])]
        self.out = nn.Linear(dims[-1], 1, bias=False)

    def __call__(self, x):
        for layer in self.hidden:
            x = nn.gelu(layer(x))
        return self.out(x).squeeze(-1)


def bt_loss(model, xa, xb, y):
    d = model(xa) - model(xb)
    return mx.mean(nn.losses.binary_cross_entropy(d, y, with_logits=True))


def soft_loss(student, xa, xb, p):
    d = student(xa) - student(xb)
    return mx.mean(nn.losses.binary_cross_entropy(d, p, with_logits=True))


def entropy(p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(np.mean(-(p * np.log(p) + (1 - p) * np.log(1 - p))))


def pair_acc(model, xa, xb, u_a, u_b):
    d = np.array(model(mx.array(xa)) - model(mx.array(xb)))
    return float(np.mean((d > 0) == (u_a > u_b)))


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)

    xs = rng.normal(size=(POOL, N_FEAT)).astype(np.float32)
    us = utility(xs)
    us = (us - us.mean()) / us.std()

    # listener votes for the teacher
    n_votes = 16000
    a = rng.integers(0, POOL, n_votes)
    b = rng.integers(0, POOL, n_votes)
    p_vote = 1 / (1 + np.exp(-2.0 * (us[a] - us[b])))
    y = (rng.random(n_votes) < p_vote).astype(np.float32)

    # held-out probe pairs from fresh jingles
    xp = rng.normal(size=(3000, N_FEAT)).astype(np.float32)
    up = (utility(xp) - utility(xs).mean()) / utility(xs).std()
    pa, pb = np.arange(0, 3000, 2), np.arange(1, 3000, 2)

    print(f"stage teacher: {n_votes} listener votes over {POOL} jingles")
    teacher = Scorer([64, 64])
    t_opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, 600, end=1e-4), weight_decay=1e-3)
    t_grad = nn.value_and_grad(teacher, bt_loss)
    vote_floor = entropy(p_vote)
    for step in range(1, 601):
        idx = rng.integers(0, n_votes, 256)
        loss, g = t_grad(teacher, mx.array(xs[a[idx]]), mx.array(xs[b[idx]]), mx.array(y[idx]))
        t_opt.update(teacher, g)
        mx.eval(teacher.parameters(), t_opt.state)
        if step % 150 == 0:
            acc = pair_acc(teacher, xp[pa], xp[pb], up[pa], up[pb])
            print(f"  teacher step {step:3d} | vote bce {loss.item():.4f} (vote-noise floor {vote_floor:.4f}) "
                  f"| probe pair acc {acc:.3f}")
    teacher.freeze()

    print("stage student: soft targets from the teacher, closer pairs are admitted as training goes on")
    student = Scorer([12])
    s_opt = optim.Adam(learning_rate=2e-3)
    s_grad = nn.value_and_grad(student, soft_loss)
    probe_p = np.array(mx.sigmoid(teacher(mx.array(xp[pa])) - teacher(mx.array(xp[pb]))))
    t_scores = np.array(teacher(mx.array(xs)))
    bands = [(1.5, 99.0), (0.8, 99.0), (0.3, 99.0), (0.0, 99.0)]
    steps_per_band = 250
    step = 0
    for lo, hi in bands:
        band_losses = []
        for _ in range(steps_per_band):
            ia = rng.integers(0, POOL, 2048)
            ib = rng.integers(0, POOL, 2048)
            gap = np.abs(t_scores[ia] - t_scores[ib])
            keep = np.where((gap >= lo) & (gap < hi))[0][:256]
            ia, ib = ia[keep], ib[keep]
            xa, xb = mx.array(xs[ia]), mx.array(xs[ib])
            p = mx.sigmoid(teacher(xa) - teacher(xb))
            loss, g = s_grad(student, xa, xb, p)
            s_opt.update(student, g)
            mx.eval(student.parameters(), s_opt.state)
            band_losses.append(loss.item())
            step += 1
        d_probe = student(mx.array(xp[pa])) - student(mx.array(xp[pb]))
        probe_kl_bce = float(mx.mean(nn.losses.binary_cross_entropy(d_probe, mx.array(probe_p),
                                                                    with_logits=True)).item())
        acc = pair_acc(student, xp[pa], xp[pb], up[pa], up[pb])
        print(f"  student step {step:4d} | min pair gap {lo:.1f} | band soft bce {np.mean(band_losses[-50:]):.4f} "
              f"| probe soft bce {probe_kl_bce:.4f} (teacher entropy {entropy(probe_p):.4f}) | probe pair acc {acc:.3f}")

    # best-of-8 selection on fresh candidate pools
    n_rounds, k = 500, 8
    xc = rng.normal(size=(n_rounds, k, N_FEAT)).astype(np.float32)
    uc = (utility(xc.reshape(-1, N_FEAT)).reshape(n_rounds, k) - utility(xs).mean()) / utility(xs).std()
    s_pick = np.array(student(mx.array(xc))).argmax(1)
    t_pick = np.array(teacher(mx.array(xc))).argmax(1)
    rows = np.arange(n_rounds)
    print(f"best-of-{k} mean utility: random {uc.mean():.3f} | student {uc[rows, s_pick].mean():.3f} | "
          f"teacher {uc[rows, t_pick].mean():.3f} | oracle {uc.max(1).mean():.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
