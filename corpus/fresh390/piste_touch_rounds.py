"""Epee bout analytics: who lands the touch (left / right / double) from the
last 16 video frames of a phrase (distance, blade speeds, lunge flags...).

Round 1 trains with early stopping on validation accuracy, evaluated every
30 steps; the best weights live in a .safetensors file. Round 2 reloads them
and tries a gentler learning rate with a fresh patience budget; whatever
happens, the final model is the best file on disk.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

T, F = 16, 6
rng = np.random.default_rng(11)
START = time.time()


def stamp():
    s = time.time() - START
    return f"[{int(s // 60):02d}:{s % 60:04.1f}]"


def make_phrases(n):
    # latent: who has the initiative and timing, with a crowded middle
    init = rng.normal(0, 1, n)
    timing = rng.normal(0, 1, n)
    t = np.linspace(0, 1, T)[None, :]
    dist = 3.0 - 2.2 * t * (1 + 0.2 * rng.normal(0, 1, (n, 1))) + 0.15 * rng.normal(0, 1, (n, T))
    lspeed = np.maximum(0, init[:, None] * t * 2 + rng.normal(0, 0.8, (n, T)))
    rspeed = np.maximum(0, -init[:, None] * t * 2 + rng.normal(0, 0.8, (n, T)))
    llunge = (t > 0.6 + 0.1 * timing[:, None]).astype(np.float64) * (init[:, None] > -0.3)
    rlunge = (t > 0.6 - 0.1 * timing[:, None]).astype(np.float64) * (init[:, None] < 0.3)
    parry = rng.normal(0, 1, (n, T)) + 0.8 * np.sin(6 * t + timing[:, None])
    X = np.stack([dist, lspeed, rspeed, llunge, rlunge, parry], -1)
    score = init + 0.6 * timing + rng.normal(0, 0.7, n)
    y = np.where(score > 0.45, 0, np.where(score < -0.45, 1, 2))
    return X.astype(np.float32), y.astype(np.int32)


Xtr, ytr = make_phrases(1200)
Xva, yva = make_phrases(800)
Xte, yte = make_phrases(1200)
mu = Xtr.reshape(-1, F).mean(0)
sd = Xtr.reshape(-1, F).std(0)
Xtr, Xva, Xte = [mx.array((a - mu) / sd) for a in (Xtr, Xva, Xte)]
ytr, yva, yte = mx.array(ytr), mx.array(yva), mx.array(yte)
names = ["left", "right", "double"]


class PhraseReader(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(F, 32)
        self.head = nn.Sequential(nn.Linear(32, 32), nn.GELU(), nn.Linear(32, 3))

    def __call__(self, x):
        h = self.rnn(x)
        return self.head(h[:, -1, :])


def ce(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def accuracy(m, x, y):
    return float((mx.argmax(m(x), -1) == y).astype(mx.float32).mean().item()) * 100


mx.random.seed(5)
model = PhraseReader()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, ce)

_, g0 = vg(model, Xtr[:64], ytr[:64])
flat = tree_flatten(g0)
dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
print(f"{stamp()} grad leaves {len(flat)}, all-zero: {len(dead)}")
counts = np.bincount(np.array(yte), minlength=3)
print(f"{stamp()} test class shares: " + ", ".join(
    f"{n} {c / counts.sum() * 100:.1f}%" for n, c in zip(names, counts)) +
      f" -> majority-class accuracy {counts.max() / counts.sum() * 100:.1f}%")
print(f"{stamp()} untrained valid acc {accuracy(model, Xva, yva):.1f}%  "
      f"valid ce {ce(model, Xva, yva).item():.3f}")

ckdir = tempfile.mkdtemp(prefix="piste")
best_file = os.path.join(ckdir, "reader_best.safetensors")
best_acc, best_where = -1.0, None


def run_round(rnd, lr, max_steps, patience, every=30, bs=64):
    global best_acc, best_where
    opt = optim.Adam(learning_rate=lr)
    step, wait = 0, 0
    run_loss, run_n = 0.0, 0
    improved_here = False
    while step < max_steps:
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        for i in range(0, Xtr.shape[0] - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, g = vg(model, Xtr[idx], ytr[idx])
            g, gnorm = optim.clip_grad_norm(g, 1.0)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run_loss += loss.item()
            run_n += 1
            step += 1
            if step % every:
                continue
            acc = accuracy(model, Xva, yva)
            vce = ce(model, Xva, yva).item()
            head = (f"{stamp()} round {rnd} step {step:4d}  train ce {run_loss / run_n:.3f}  "
                    f"valid ce {vce:.3f}  valid acc {acc:5.1f}%")
            run_loss, run_n = 0.0, 0
            if acc > best_acc:
                best_acc, best_where, wait = acc, (rnd, step), 0
                improved_here = True
                model.save_weights(best_file)
                print(head + "  -> reader_best.safetensors")
            else:
                wait += 1
                print(head + f"  (best {best_acc:.1f}% at round {best_where[0]} "
                             f"step {best_where[1]}; patience {wait}/{patience})")
                if wait >= patience:
                    print(f"{stamp()} round {rnd}: no gain in valid accuracy for "
                          f"{patience} checks, stopping")
                    return improved_here
            if step >= max_steps:
                break
    print(f"{stamp()} round {rnd}: step budget {max_steps} used up")
    return improved_here


run_round(1, 3e-3, 1500, patience=6)
model.load_weights(best_file)
mx.eval(model.parameters())
print(f"{stamp()} reloaded best for round 2: valid acc {accuracy(model, Xva, yva):.1f}%")
gained = run_round(2, 3e-4, 450, patience=4)
print(f"{stamp()} round 2 {'raised' if gained else 'did not raise'} the best valid accuracy")
model.load_weights(best_file)
mx.eval(model.parameters())
acc = accuracy(model, Xte, yte)
per = []
pred = np.array(mx.argmax(model(Xte), -1))
yt = np.array(yte)
for c, n in enumerate(names):
    per.append(f"{n} {np.mean(pred[yt == c] == c) * 100:.1f}%")
print(f"{stamp()} final weights = round {best_where[0]} step {best_where[1]}  "
      f"valid acc {accuracy(model, Xva, yva):.1f}%")
print(f"{stamp()} test acc {acc:.1f}%  test ce {ce(model, Xte, yte).item():.3f}  "
      f"recall: " + ", ".join(per))
