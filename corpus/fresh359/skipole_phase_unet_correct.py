"""Cross-country ski pole force traces: per-sample phase labelling.

Each trace is 64 samples of a pole-shaft load cell (plus its first
difference). Every sample belongs to one of three phases: 0 swing (pole in
the air), 1 plant (sharp rise after the pole hits the snow), 2 push (the long
loaded part of the stroke). A 1-D U-Net (Conv1d, strided-conv down, nearest
up with mx.repeat, skip concatenation) predicts the phase of every sample and
carries side heads on the two coarser decoder levels (deep supervision with
labels pooled to 1/4 and 1/2 rate). The side-head weight is annealed from
0.6 to 0 over the first stage, so the logged total and the full-rate term
tell different stories early on. Learning rate: linear warm-up from exactly
0, then cosine decay. A checkpoint is written after stage 1 and training
resumes in a freshly built model and optimizer.
"""

import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

T = 64
PHASES = ("swing", "plant", "push")


def make_traces(rng, n):
    xs, ys = [], []
    for _ in range(n):
        cadence = rng.uniform(14, 22)          # samples per stroke cycle
        duty = rng.uniform(0.45, 0.6)          # share of the cycle on snow
        peak = rng.uniform(0.8, 1.6)
        offset = rng.uniform(0, cadence)
        t = np.arange(T) + offset
        ph = (t % cadence) / cadence
        y = np.zeros(T, dtype=np.int32)
        on = ph < duty
        plant = ph < duty * 0.22
        y[on] = 2
        y[plant] = 1
        rise = np.clip(ph / (duty * 0.22), 0, 1)
        decay = np.clip(1 - (ph - duty * 0.22) / (duty * 0.78), 0, 1)
        force = np.where(plant, peak * rise ** 1.5, peak * (0.55 + 0.45 * decay))
        force = np.where(on, force, 0.0)
        force = force + rng.normal(0, 0.08, T) + 0.05 * np.sin(t / 5.0)
        d = np.diff(force, prepend=force[0])
        xs.append(np.stack([force, d * 3.0], axis=-1))
        ys.append(y)
    return np.stack(xs).astype(np.float32), np.stack(ys)


def pool_labels(y, factor):
    # majority label inside each window of `factor` samples
    b, t = y.shape
    win = y.reshape(b, t // factor, factor)
    counts = np.stack([(win == k).sum(-1) for k in range(3)], axis=-1)
    return counts.argmax(-1).astype(np.int32)


class ConvBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.c1 = nn.Conv1d(cin, cout, 5, padding=2)
        self.n1 = nn.LayerNorm(cout)
        self.c2 = nn.Conv1d(cout, cout, 5, padding=2)

    def __call__(self, x):
        x = nn.gelu(self.n1(self.c1(x)))
        return nn.gelu(self.c2(x))


class PhaseUNet(nn.Module):
    def __init__(self, ch=8):
        super().__init__()
        self.e1 = ConvBlock(2, ch)
        self.d1 = nn.Conv1d(ch, 2 * ch, 4, stride=2, padding=1)
        self.e2 = ConvBlock(2 * ch, 2 * ch)
        self.d2 = nn.Conv1d(2 * ch, 4 * ch, 4, stride=2, padding=1)
        self.mid = ConvBlock(4 * ch, 4 * ch)
        self.u2 = ConvBlock(4 * ch + 2 * ch, 2 * ch)
        self.u1 = ConvBlock(2 * ch + ch, ch)
        self.side4 = nn.Conv1d(4 * ch, 3, 1)     # 1/4 rate
        self.side2 = nn.Conv1d(2 * ch, 3, 1)     # 1/2 rate
        self.head = nn.Conv1d(ch, 3, 1)

    def __call__(self, x):
        s1 = self.e1(x)
        s2 = self.e2(self.d1(s1))
        m = self.mid(self.d2(s2))
        h2 = self.u2(mx.concatenate([mx.repeat(m, 2, axis=1), s2], axis=-1))
        h1 = self.u1(mx.concatenate([mx.repeat(h2, 2, axis=1), s1], axis=-1))
        return self.head(h1), self.side2(h2), self.side4(m)


def losses(model, x, y, y2, y4):
    full, half, quarter = model(x)
    l_full = nn.losses.cross_entropy(full, y, reduction="mean")
    l_side = 0.5 * (nn.losses.cross_entropy(half, y2, reduction="mean")
                    + nn.losses.cross_entropy(quarter, y4, reduction="mean"))
    return l_full, l_side


def macro_f1(pred, y):
    f1s = []
    for k in range(3):
        tp = np.sum((pred == k) & (y == k))
        fp = np.sum((pred == k) & (y != k))
        fn = np.sum((pred != k) & (y == k))
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(f1s)), f1s


def threshold_baseline(x):
    # hand rule: loaded -> push, loaded and rising fast -> plant
    f, d = x[..., 0], x[..., 1] / 3.0
    pred = np.where(f > 0.3, 2, 0)
    pred = np.where((f > 0.15) & (d > 0.12), 1, pred)
    return pred


def schedule(total, warm, peak):
    warmup = optim.linear_schedule(0.0, peak, warm)
    cosine = optim.cosine_decay(peak, total - warm, 1e-5)
    return optim.join_schedules([warmup, cosine], [warm])


def train_stage(model, opt, data, steps, first_step, side_w, rng, log_every):
    xtr, ytr, y2tr, y4tr = data

    def objective(model, x, y, y2, y4, w):
        l_full, l_side = losses(model, x, y, y2, y4)
        return l_full + w * l_side, (l_full, l_side)

    grad_fn = nn.value_and_grad(model, objective)
    hist = []
    for i in range(steps):
        step = first_step + i
        idx = rng.integers(0, len(xtr), 32)
        w = side_w(step)
        (tot, (lf, ls)), grads = grad_fn(model, mx.array(xtr[idx]), mx.array(ytr[idx]),
                                         mx.array(y2tr[idx]), mx.array(y4tr[idx]),
                                         mx.array(w))
        lr_used = opt.learning_rate.item()
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, tot, lf, ls)
        hist.append((tot.item(), lf.item(), ls.item()))
        if step == 0 or (step + 1) % log_every == 0:
            a = np.mean(hist, axis=0)
            print(f"step {step + 1:4d}  lr {lr_used:.2e}  side_w {w:.2f}  "
                  f"total {a[0]:.4f}  full-rate {a[1]:.4f}  side {a[2]:.4f}")
            hist = []


def evaluate(model, xva, yva, tag):
    full, _, _ = model(mx.array(xva))
    pred = np.array(mx.argmax(full, axis=-1))
    f1, per = macro_f1(pred, yva)
    acc = float(np.mean(pred == yva))
    print(f"[{tag}] val acc {acc:.3f}  macro-F1 {f1:.3f}  "
          f"(swing {per[0]:.2f} / plant {per[1]:.2f} / push {per[2]:.2f})")
    return f1


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xtr, ytr = make_traces(rng, 600)
    xva, yva = make_traces(rng, 200)
    data = (xtr, ytr, pool_labels(ytr, 2), pool_labels(ytr, 4))

    base = threshold_baseline(xva)
    bf1, bper = macro_f1(base, yva)
    maj = np.bincount(ytr.reshape(-1)).argmax()
    mf1, _ = macro_f1(np.full_like(yva, maj), yva)
    print(f"reference: hand threshold rule macro-F1 {bf1:.3f} "
          f"(plant {bper[1]:.2f}); always-'{PHASES[maj]}' macro-F1 {mf1:.3f}")

    total = 200
    stage1 = 100
    lr = schedule(total, 20, 5e-3)
    side_w = lambda s: 0.6 * max(0.0, 1.0 - s / stage1)

    model = PhaseUNet()
    opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)
    n = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"params {n}  warm-up from lr 0 over 20 steps, then cosine")
    train_stage(model, opt, data, stage1, 0, side_w, rng, 25)
    evaluate(model, xva, yva, "after stage 1")

    ckpt = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckpt, "unet.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"),
                        dict(tree_flatten(opt.state)))
    del model, opt
    print(f"checkpoint written, objects dropped")

    model = PhaseUNet()
    model.load_weights(os.path.join(ckpt, "unet.safetensors"))
    opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
    print(f"resumed at optimizer step {opt.step.item()}")
    evaluate(model, xva, yva, "restored")
    # stage 2: side heads off (weight 0), silent except every 50 steps
    train_stage(model, opt, data, total - stage1, stage1, side_w, rng, 50)
    f1 = evaluate(model, xva, yva, "final")
    print(f"final macro-F1 {f1:.3f} vs hand rule {bf1:.3f}  "
          f"({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
