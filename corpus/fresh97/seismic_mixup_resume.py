"""Seismic event typing (earthquake / quarry blast / sonic boom / noise) from 8 station
features.  Mixup on the training batches (soft targets, so the training loss stays
high), AdamW + cosine schedule, and the run is split into two sessions: session 1
writes a checkpoint (weights + optimizer state + step) into a temp dir, session 2
starts from a freshly built model, loads it and continues."""
import json
import os
import tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

CLASSES = ["quake", "blast", "boom", "noise"]
rng = np.random.default_rng(21)


def make(n):
    y = rng.choice(4, n, p=[0.4, 0.25, 0.1, 0.25])
    depth = np.where(y == 0, rng.gamma(3, 4, n), rng.gamma(1, 0.6, n))
    hour = np.where(y == 1, rng.normal(13, 2, n), rng.uniform(0, 24, n)) % 24
    ps_ratio = np.where(y == 0, rng.normal(1.2, 0.4, n), rng.normal(0.6, 0.4, n))
    hf = np.where(y == 2, rng.normal(2.0, 0.7, n), rng.normal(0.0, 0.8, n))
    mag = np.where(y == 3, rng.normal(0.5, 0.5, n), rng.normal(2.0, 0.8, n))
    dur = mag * 1.5 + rng.normal(0, 1.0, n)
    x = np.stack([np.log1p(depth), np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
                  ps_ratio, hf, mag, dur, rng.normal(0, 1, n)], 1)
    return x.astype(np.float32), y.astype(np.int32)


xtr, ytr = make(9000)
xva, yva = make(2000)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, 4)

    def __call__(self, x):
        return self.head(self.body(x))


def soft_ce(model, x, t):
    return mx.mean(-mx.sum(t * nn.log_softmax(model(x), axis=-1), axis=-1))


TOTAL, SPLIT, BS = 2000, 1000, 64


def build(seed):
    mx.random.seed(seed)
    model = Net()
    opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, TOTAL, 1e-5), weight_decay=0.01)
    return model, opt


def run(model, opt, start, stop, tag):
    vg = nn.value_and_grad(model, soft_ce)
    eye = np.eye(4, dtype=np.float32)
    window = []
    for step in range(start, stop):
        idx = rng.integers(0, len(ytr), BS)
        lam = rng.beta(0.4, 0.4)
        j = rng.permutation(BS)
        xb = lam * xtr[idx] + (1 - lam) * xtr[idx][j]
        tb = lam * eye[ytr[idx]] + (1 - lam) * eye[ytr[idx]][j]
        loss, grads = vg(model, mx.array(xb), mx.array(tb))
        if step == 0:
            flat = tree_flatten(grads)
            print(f"[{tag}] grad check: {sum(1 for _, g in flat if mx.any(g != 0).item())}/{len(flat)} leaves non-zero")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if (step + 1) % 250 == 0:
            logits = model(mx.array(xva))
            vloss = nn.losses.cross_entropy(logits, mx.array(yva), reduction="mean").item()
            acc = mx.mean(mx.argmax(logits, 1) == mx.array(yva)).item()
            print(f"[{tag}] step {step + 1:5d}  lr {opt.learning_rate.item():.2e}  "
                  f"mixup_loss {np.mean(window):.4f}  val_ce {vloss:.4f}  val_acc {100 * acc:5.1f}%")
            window = []


def main():
    with tempfile.TemporaryDirectory() as ck:
        model, opt = build(seed=1)
        print(f"data: train {len(ytr)}  val {len(yva)}  classes {CLASSES}")
        run(model, opt, 0, SPLIT, "session1")
        model.save_weights(os.path.join(ck, "model.safetensors"))
        mx.save_safetensors(os.path.join(ck, "opt.safetensors"), dict(tree_flatten(opt.state)))
        with open(os.path.join(ck, "meta.json"), "w") as f:
            json.dump({"step": SPLIT}, f)
        print(f"checkpoint written: {sorted(os.listdir(ck))}")
        del model, opt

        model, opt = build(seed=99)
        model.load_weights(os.path.join(ck, "model.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ck, "opt.safetensors")).items()))
        with open(os.path.join(ck, "meta.json")) as f:
            start = json.load(f)["step"]
        print(f"resumed at step {start} (optimizer step counter {opt.step.item()})")
        run(model, opt, start, TOTAL, "session2")
    print("finished")


if __name__ == "__main__":
    main()
