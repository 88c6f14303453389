"""Glass recycling line: colour sorter that learns from late QA labels.

Each cullet piece passes an 8-band optical sensor and must be sent to a chute
(flint / amber / green / reject) at once.  The QA bench confirms the true
colour of a piece only LABEL_LAG pieces later, so the model predicts now and
learns later: a queue holds the unlabelled readings until their label comes
back, then the piece joins a small labelled window that feeds one AdamW step.

Reported accuracy is prequential (scored before any training on that piece)
for the raw weights, for a Polyak/EMA shadow copy, and for the
always-flint baseline.  The sensor lamp slowly dims over the shift.

Half way through the shift the line stops for a belt change: the model, its
EMA shadow, the optimizer state and the queue of pieces still waiting for a
label are written to disk, everything is rebuilt from scratch and reloaded,
and the stream continues.
"""

import os
import tempfile
import time
from collections import deque

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

SEED = 5
N_PIECES = 4000
LABEL_LAG = 40
TRAIN_WINDOW = 16
EMA_DECAY = 0.99
LR = 2e-3
LOG_EVERY = 400
BREAK_AT = 2000
CHUTES = ["flint", "amber", "green", "reject"]
PRIOR = np.array([0.5, 0.25, 0.2, 0.05])

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

CENTRES = np.array(
    [
        [0.9, 0.9, 0.9, 0.85, 0.85, 0.8, 0.8, 0.75],  # flint: flat, bright
        [0.2, 0.3, 0.45, 0.6, 0.75, 0.8, 0.8, 0.7],  # amber: red-heavy
        [0.25, 0.45, 0.7, 0.75, 0.5, 0.35, 0.3, 0.3],  # green: mid peak
        [0.1, 0.1, 0.15, 0.15, 0.2, 0.2, 0.2, 0.2],  # reject: ceramic, dark
    ],
    dtype=np.float32,
)


def make_stream():
    labels = rng.choice(4, size=N_PIECES, p=PRIOR)
    base = CENTRES[labels] + rng.normal(0.0, 0.3, (N_PIECES, 8)).astype(np.float32)
    lamp = np.linspace(1.0, 0.7, N_PIECES, dtype=np.float32)[:, None]  # dimming lamp
    readings = base * lamp + rng.normal(0.0, 0.03, (N_PIECES, 8)).astype(np.float32)
    return readings.astype(np.float32), labels.astype(np.int32)


class ChuteNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU())
        self.head = nn.Linear(48, 4)

    def __call__(self, x):
        return self.head(self.body(x))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def build():
    model = ChuteNet()
    shadow = ChuteNet()
    mx.eval(model.parameters())
    shadow.update(tree_map(lambda p: mx.array(p), model.parameters()))
    mx.eval(shadow.parameters())
    optimizer = optim.AdamW(learning_rate=LR, weight_decay=1e-4)
    return model, shadow, optimizer


def save_all(folder, model, shadow, optimizer, pending, labelled, step):
    model.save_weights(os.path.join(folder, "model.safetensors"))
    shadow.save_weights(os.path.join(folder, "shadow.safetensors"))
    mx.save_safetensors(os.path.join(folder, "opt.safetensors"), dict(tree_flatten(optimizer.state)))
    np.savez(
        os.path.join(folder, "queues.npz"),
        pending=np.array(list(pending), dtype=np.int64),
        labelled=np.array(list(labelled), dtype=np.int64),
        step=np.array(step),
    )


def load_all(folder):
    model, shadow, optimizer = build()
    model.load_weights(os.path.join(folder, "model.safetensors"))
    shadow.load_weights(os.path.join(folder, "shadow.safetensors"))
    optimizer.state = tree_unflatten(list(mx.load(os.path.join(folder, "opt.safetensors")).items()))
    q = np.load(os.path.join(folder, "queues.npz"))
    pending = deque(int(i) for i in q["pending"])
    labelled = deque((int(i) for i in q["labelled"]), maxlen=TRAIN_WINDOW)
    mx.eval(model.parameters(), shadow.parameters(), optimizer.state)
    return model, shadow, optimizer, pending, labelled, int(q["step"])


def main():
    t0 = time.time()
    x_all, y_all = make_stream()
    model, shadow, optimizer = build()
    grad_fn = nn.value_and_grad(model, loss_fn)

    pending = deque()  # indices of pieces whose label has not come back
    labelled = deque(maxlen=TRAIN_WINDOW)
    hit_raw = np.zeros(N_PIECES)
    hit_ema = np.zeros(N_PIECES)
    hit_base = (y_all == 0).astype(np.float64)
    losses = []
    updates = 0
    probe = mx.array(x_all[:64])

    print(f"{N_PIECES} pieces, labels arrive {LABEL_LAG} pieces late, window {TRAIN_WINDOW}")
    t = 0
    while t < N_PIECES:
        if t == BREAK_AT:
            before = model(probe)
            before_ema = shadow(probe)
            with tempfile.TemporaryDirectory() as folder:
                save_all(folder, model, shadow, optimizer, pending, labelled, t)
                model, shadow, optimizer, pending, labelled, t = load_all(folder)
            grad_fn = nn.value_and_grad(model, loss_fn)
            d1 = mx.abs(model(probe) - before).max().item()
            d2 = mx.abs(shadow(probe) - before_ema).max().item()
            print(
                f"belt change at piece {t}: reloaded, {len(pending)} pieces still await QA,"
                f" probe max diff raw {d1:.2e} ema {d2:.2e}, optimizer step {optimizer.step.item()}"
            )

        x_t = mx.array(x_all[t : t + 1])
        hit_raw[t] = float(mx.argmax(model(x_t), axis=-1).item() == y_all[t])
        hit_ema[t] = float(mx.argmax(shadow(x_t), axis=-1).item() == y_all[t])
        pending.append(t)

        if t >= LABEL_LAG:
            arrived = pending.popleft()
            labelled.append(arrived)
            idx = np.array(labelled)
            loss, grads = grad_fn(model, mx.array(x_all[idx]), mx.array(y_all[idx]))
            optimizer.update(model, grads)
            shadow.update(
                tree_map(
                    lambda s, p: EMA_DECAY * s + (1.0 - EMA_DECAY) * p,
                    shadow.parameters(),
                    model.parameters(),
                )
            )
            mx.eval(model.parameters(), shadow.parameters(), optimizer.state, loss)
            losses.append(loss.item())
            updates += 1

        t += 1
        if t % LOG_EVERY == 0:
            s = slice(t - LOG_EVERY, t)
            recent = np.mean(losses[-LOG_EVERY:]) if losses else float("nan")
            print(
                f"piece {t:5d} | acc raw {hit_raw[s].mean():.3f} ema {hit_ema[s].mean():.3f}"
                f" | all-flint {hit_base[s].mean():.3f} | window ce {recent:.4f} | updates {updates}"
            )

    last = slice(N_PIECES - 1000, N_PIECES)
    print(
        f"last 1000 pieces: acc raw {hit_raw[last].mean():.3f}, ema {hit_ema[last].mean():.3f},"
        f" all-flint {hit_base[last].mean():.3f}"
    )
    print(f"labels still pending at end of shift: {len(pending)}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
