# Letterpress shop: 5-way impression-defect class (clean / slur / halo / pick / mottle)
# from 10 press readings. Three born-again generations: each new student starts from
# scratch and learns from the noisy shop labels plus the previous generation's
# softened predictions (T=4). The previous generation is restored from its .npz.
import math
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

CLASSES = ["clean", "slur", "halo", "pick", "mottle"]
N_FEAT, N_CLS = 10, 5
T, ALPHA = 4.0, 0.7
EPOCHS, BS, PEAK_LR, WARMUP = 12, 64, 3e-3, 60


def make_data(rng):
    W1 = rng.normal(size=(N_FEAT, 16)) / math.sqrt(N_FEAT)
    W2 = rng.normal(size=(16, N_CLS)) * 1.6

    def draw(n):
        x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
        score = np.tanh(x @ W1 * 1.5) @ W2 + np.array([0.6, 0.1, 0.0, -0.3, -0.4])
        y = (score + rng.gumbel(size=score.shape) * 0.5).argmax(1)
        return x, y.astype(np.int32)

    xtr, ytr = draw(4000)
    xva, yva = draw(1000)
    # shop log: 20% of training tickets carry a miskeyed defect code
    flip = rng.random(len(ytr)) < 0.20
    ytr_noisy = ytr.copy()
    ytr_noisy[flip] = rng.integers(0, N_CLS, flip.sum())
    return xtr, ytr_noisy, xva, yva


class Student(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, N_CLS)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def schedule(total):
    warm = optim.linear_schedule(0.0, PEAK_LR, WARMUP)
    decay = optim.cosine_decay(PEAK_LR, total - WARMUP, 0.0)
    return optim.join_schedules([warm, decay], [WARMUP])


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()


def train_generation(gen, teacher, xtr, ytr, xva, yva, rng):
    mx.random.seed(100 + gen)
    student = Student()
    steps_per_epoch = len(xtr) // BS
    opt = optim.AdamW(learning_rate=schedule(EPOCHS * steps_per_epoch), weight_decay=1e-4)

    def loss_fn(model, xb, yb, soft):
        logits = model(xb)
        ce = nn.losses.cross_entropy(logits, yb, reduction="mean")
        if soft is None:
            return ce, ce, mx.array(0.0)
        logp = nn.log_softmax(logits / T, axis=-1)
        kl = (soft * (mx.log(soft + 1e-12) - logp)).sum(axis=-1).mean() * T * T
        return (1 - ALPHA) * ce + ALPHA * kl, ce, kl

    step = nn.value_and_grad(student, lambda m, a, b, c: loss_fn(m, a, b, c)[0])
    Xtr, Ytr, Xva, Yva = mx.array(xtr), mx.array(ytr), mx.array(xva), mx.array(yva)
    soft_all = None
    if teacher is not None:
        soft_all = mx.stop_gradient(mx.softmax(teacher(Xtr) / T, axis=-1))
        mx.eval(soft_all)

    for epoch in range(1, EPOCHS + 1):
        perm = mx.array(rng.permutation(len(xtr)))
        tot, tot_ce, tot_kl = 0.0, 0.0, 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * BS:(s + 1) * BS]
            soft = None if soft_all is None else soft_all[idx]
            loss, grads = step(student, Xtr[idx], Ytr[idx], soft)
            opt.update(student, grads)
            mx.eval(student.parameters(), opt.state, loss)
            _, ce, kl = loss_fn(student, Xtr[idx], Ytr[idx], soft)
            tot += loss.item()
            tot_ce += ce.item()
            tot_kl += kl.item()
        n = steps_per_epoch
        if gen == 0 and epoch not in (1, EPOCHS):
            continue  # generation 0 only reports its first and last epoch
        print(f"gen {gen} epoch {epoch:2d} lr {opt.learning_rate.item():.5f} "
              f"loss {tot / n:.4f} ce_noisy {tot_ce / n:.4f} kl_T2 {tot_kl / n:.4f} "
              f"val_acc {accuracy(student, Xva, Yva):.4f}")
    return student


def main():
    rng = np.random.default_rng(242)
    xtr, ytr, xva, yva = make_data(rng)
    counts = np.bincount(yva, minlength=N_CLS)
    majority = counts.max() / counts.sum()
    print("val class shares: " + ", ".join(f"{c} {k / counts.sum():.2f}" for c, k in zip(CLASSES, counts)))
    print(f"baseline majority-class val_acc {majority:.4f}")

    ckdir = tempfile.mkdtemp(None, "letterpress_")
    teacher, accs = None, []
    Xva, Yva = mx.array(xva), mx.array(yva)
    for gen in range(3):
        before = None
        if teacher is not None:
            before = {k: np.array(v) for k, v in tree_flatten(teacher.parameters())}
        student = train_generation(gen, teacher, xtr, ytr, xva, yva, rng)
        if before is not None:
            after = {k: np.array(v) for k, v in tree_flatten(teacher.parameters())}
            drift = max(float(np.abs(after[k] - before[k]).max()) for k in before)
            print(f"teacher gen {gen - 1} drift while teaching {drift:.1e}")
        acc = accuracy(student, Xva, Yva)
        accs.append(acc)
        path = os.path.join(ckdir, f"gen{gen}.npz")
        student.save_weights(path)
        # restore the checkpoint into a fresh module to act as the next teacher
        teacher = Student()
        teacher.load_weights(path)
        teacher.eval()
        teacher.freeze()
        same = accuracy(teacher, Xva, Yva)
        print(f"== gen {gen} done: val_acc {acc:.4f} (restored {same:.4f}), "
              f"vs gen0 {acc - accs[0]:+.4f}, vs majority {acc - majority:+.4f}")

    print("summary: " + " ".join(f"gen{g}={a:.4f}" for g, a in enumerate(accs)))


if __name__ == "__main__":
    main()
