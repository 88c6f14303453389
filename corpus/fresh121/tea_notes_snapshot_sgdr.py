"""Tea tasting panel: predict which flavour notes the panel will tick for a brew.

Multi-label (6 independent notes) from 10 lab measurements of the leaf and the
brewing. Trained with SGD + warm restarts (4 cosine cycles); the weights at the
end of every cycle are kept as a snapshot and the snapshots are averaged at the
end (snapshot ensemble, Huang et al. 2017).
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

NOTES = ["floral", "malty", "smoky", "grassy", "citrus", "astringent"]
FEATURES = ["catechin", "theaflavin", "caffeine", "linalool", "geraniol",
            "me_salicylate", "pyrazine", "oxidation", "roast_c", "steep_min"]


class Recipe:
    n_train = 8000
    n_valid = 2000
    hidden = 64
    batch = 64
    epochs_per_cycle = 4
    cycles = 4
    peak_lr = 0.1
    floor_lr = 1e-4
    momentum = 0.9
    weight_decay = 5e-4
    seed = 7


def brew_dataset(n, rng):
    x = rng.normal(size=(n, len(FEATURES))).astype(np.float32)
    cat, thea, caf, lin, ger, mes, pyr, oxi, roast, steep = x.T
    logits = np.stack([
        1.6 * lin + 1.2 * ger - 0.8 * roast - 0.3,                # floral
        1.4 * thea + 1.1 * oxi + 0.5 * steep - 0.2,               # malty
        2.0 * roast + 0.9 * pyr - 1.0,                            # smoky
        1.5 * cat - 1.3 * oxi + 0.4 * np.tanh(2 * mes) - 0.1,     # grassy
        1.3 * ger * (mes > 0) + 0.8 * lin - 0.6,                  # citrus
        1.2 * cat + 0.9 * caf + 0.9 * steep + 0.5 * cat * steep,  # astringent
    ], axis=1)
    p = 1.0 / (1.0 + np.exp(-logits))
    y = (rng.random(p.shape) < p).astype(np.float32)
    return x, y


class NoteNet(nn.Module):
    def __init__(self, d_in, hidden, n_out):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, n_out)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.head(h)


def bce_loss(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def tag_metrics(prob, y):
    pred = prob > 0.5
    truth = y > 0.5
    hamming = float(np.mean(pred != truth)) * 100.0
    tp = float(np.sum(pred & truth))
    fp = float(np.sum(pred & ~truth))
    fn = float(np.sum(~pred & truth))
    micro_f1 = 2 * tp / max(2 * tp + fp + fn, 1.0)
    return hamming, micro_f1


def predict_prob(model, x):
    return np.array(mx.sigmoid(model(x)))


def main():
    cfg = Recipe()
    rng = np.random.default_rng(cfg.seed)
    mx.random.seed(cfg.seed)
    x_tr, y_tr = brew_dataset(cfg.n_train, rng)
    x_va, y_va = brew_dataset(cfg.n_valid, rng)
    xv, yv_np = mx.array(x_va), y_va
    print(f"brews: {cfg.n_train} train / {cfg.n_valid} valid, notes ticked per brew "
          f"{y_tr.sum(1).mean():.2f} of {len(NOTES)}")
    print("note prevalence: " + ", ".join(f"{n} {100 * m:.0f}%" for n, m in zip(NOTES, y_tr.mean(0))))

    model = NoteNet(len(FEATURES), cfg.hidden, len(NOTES))
    mx.eval(model.parameters())

    steps_per_epoch = cfg.n_train // cfg.batch
    cycle_steps = steps_per_epoch * cfg.epochs_per_cycle
    schedule = optim.join_schedules(
        [optim.cosine_decay(cfg.peak_lr, cycle_steps, cfg.floor_lr) for _ in range(cfg.cycles)],
        [cycle_steps * k for k in range(1, cfg.cycles)],
    )
    opt = optim.SGD(learning_rate=schedule, momentum=cfg.momentum,
                    weight_decay=cfg.weight_decay, nesterov=True)
    loss_and_grad = nn.value_and_grad(model, bce_loss)

    ham0, f10 = tag_metrics(predict_prob(model, xv), yv_np)
    print(f"untrained: hamming {ham0:.2f}%  micro-F1 {f10:.3f}")

    snapshots = []
    step = 0
    t0 = time.perf_counter()
    for cycle in range(cfg.cycles):
        for ep in range(cfg.epochs_per_cycle):
            order = rng.permutation(cfg.n_train)
            running, seen = 0.0, 0
            for b in range(steps_per_epoch):
                idx = order[b * cfg.batch:(b + 1) * cfg.batch]
                xb, yb = mx.array(x_tr[idx]), mx.array(y_tr[idx])
                loss, grads = loss_and_grad(model, xb, yb)
                if step == 0:
                    flat = tree_flatten(grads)
                    dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
                    print(f"first step: {len(flat)} gradient leaves, zero leaves: {dead or 'none'}")
                lr_now = float(schedule(step))
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                running += loss.item()
                seen += 1
                step += 1
            model.eval()
            ham, f1 = tag_metrics(predict_prob(model, xv), yv_np)
            va_loss = bce_loss(model, xv, mx.array(yv_np)).item()
            model.train()
            print(f"[c{cycle + 1} e{ep + 1}] step {step:5d}  lr {lr_now:.4f}  train bce {running / seen:.4f}  "
                  f"valid bce {va_loss:.4f}  hamming {ham:5.2f}%  micro-F1 {f1:.3f}  "
                  f"({time.perf_counter() - t0:.1f}s)")
        snap = [(k, mx.array(v)) for k, v in tree_flatten(model.parameters())]
        snapshots.append(snap)
        print(f"  snapshot {len(snapshots)} kept at step {step} (lr {lr_now:.5f})")

    # ensemble: average the note probabilities of every snapshot
    live = [(k, mx.array(v)) for k, v in tree_flatten(model.parameters())]
    probs = []
    for i, snap in enumerate(snapshots):
        model.update(tree_unflatten(snap))
        p = predict_prob(model, xv)
        probs.append(p)
        ham, f1 = tag_metrics(p, yv_np)
        print(f"  snapshot {i + 1}: hamming {ham:5.2f}%  micro-F1 {f1:.3f}")
    model.update(tree_unflatten(live))
    for m in range(1, len(probs) + 1):
        ham, f1 = tag_metrics(np.mean(probs[-m:], axis=0), yv_np)
        print(f"ensemble of last {m}: hamming {ham:5.2f}%  micro-F1 {f1:.3f}")
    per_note = np.mean((np.mean(probs, axis=0) > 0.5) == (yv_np > 0.5), axis=0)
    print("per-note agreement with the panel: " + ", ".join(
        f"{n} {100 * a:.1f}%" for n, a in zip(NOTES, per_note)))
    print(f"done in {time.perf_counter() - t0:.1f}s, {step} steps")


if __name__ == "__main__":
    main()
