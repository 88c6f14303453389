"""Multibeam survey: seabed class from the angular response of backscatter.

Five classes (mud, sand, gravel, rock, seagrass) from 20 incidence-angle bins of
backscatter (dB) plus water depth.  Train mode / eval mode switching around a
BatchNorm + Dropout MLP, periodic validation with prediction churn against the
previous validation pass, two baselines, best-checkpoint reload, and a final
Monte-Carlo dropout pass (BatchNorm kept in eval mode, dropout layers only in
train mode) for uncertainty.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CLASSES = ["mud", "sand", "gravel", "rock", "seagrass"]
ANGLES = np.linspace(5.0, 65.0, 20)


def make_survey(n, rng):
    # made-up angular response: nadir level, slope, Lambert-like roll-off, texture ripple
    level = np.array([-32.0, -24.0, -19.0, -14.0, -27.0])
    slope = np.array([0.10, 0.18, 0.14, 0.06, 0.22])
    rolloff = np.array([1.2, 1.6, 1.1, 0.6, 2.2])
    ripple = np.array([0.0, 0.8, 1.6, 2.4, 0.3])
    y = rng.integers(0, 5, size=n)
    depth = rng.uniform(15.0, 120.0, size=n)
    th = np.deg2rad(ANGLES)[None, :]
    a = ANGLES[None, :]
    gain = rng.normal(0.0, 3.0, size=(n, 1)) - 0.02 * (depth[:, None] - 60.0)
    curve = (level[y][:, None] - slope[y][:, None] * a
             + 10.0 * rolloff[y][:, None] * np.log10(np.cos(th) ** 2 + 0.05)
             + ripple[y][:, None] * np.sin(a / 4.0 + rng.uniform(0, 6.28, size=(n, 1)))
             + gain + rng.normal(0.0, 3.5, size=(n, 20)))
    x = np.concatenate([curve, np.log(depth)[:, None]], axis=1).astype(np.float32)
    # logbook labels: 10% of the entries were typed against another class
    flip = rng.random(n) < 0.10
    y_log = np.where(flip, rng.integers(0, 5, size=n), y)
    return x, y_log.astype(np.int32), (y_log == y).mean()


class SeabedNet(nn.Module):
    def __init__(self, d_in, width=64, n_out=5, p=0.2):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.bn1 = nn.BatchNorm(width)
        self.d1 = nn.Dropout(p)
        self.l2 = nn.Linear(width, width)
        self.bn2 = nn.BatchNorm(width)
        self.d2 = nn.Dropout(p)
        self.head = nn.Linear(width, n_out)

    def __call__(self, x):
        h = self.d1(nn.relu(self.bn1(self.l1(x))))
        h = self.d2(nn.relu(self.bn2(self.l2(h))))
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y, bs=500):
    model.eval()
    correct, nll, preds = 0, 0.0, []
    for i in range(0, x.shape[0], bs):
        logits = model(x[i:i + bs])
        yb = y[i:i + bs]
        p = mx.argmax(logits, axis=1)
        s_nll = nn.losses.cross_entropy(logits, yb, reduction="sum")
        c = mx.sum(p == yb)
        mx.eval(p, s_nll, c)
        correct += c.item()
        nll += s_nll.item()
        preds.append(np.array(p))
    model.train()
    n = x.shape[0]
    return correct / n, nll / n, np.concatenate(preds)


def yaml_doc(title, fields):
    print(f"--- # {title}")
    for k, v in fields:
        print(f"{k}: {v}")


def main():
    t0 = time.time()
    rng = np.random.default_rng(302)
    mx.random.seed(302)
    xtr, ytr, agree_tr = make_survey(9000, rng)
    xva, yva, agree_va = make_survey(1500, rng)
    xte, yte, agree_te = make_survey(1500, rng)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xva, xte = [(a - mu) / sd for a in (xtr, xva, xte)]

    # baselines beside the model
    majority = np.bincount(ytr, minlength=5).argmax()
    base_major = (yva == majority).mean()
    cents = np.stack([xtr[ytr == k].mean(0) for k in range(5)])
    base_cent = (np.argmin(((xva[:, None, :] - cents[None]) ** 2).sum(-1), 1) == yva).mean()

    Xtr, Ytr = mx.array(xtr), mx.array(ytr)
    Xva, Yva = mx.array(xva), mx.array(yva)
    Xte, Yte = mx.array(xte), mx.array(yte)

    model = SeabedNet(xtr.shape[1])
    model.train()
    bs, epochs = 128, 16
    steps_per_epoch = xtr.shape[0] // bs
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 100),
         optim.step_decay(3e-3, 0.5, 5 * steps_per_epoch)],
        [100])
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)

    yaml_doc("survey", [
        ("train_rows", xtr.shape[0]), ("val_rows", xva.shape[0]), ("test_rows", xte.shape[0]),
        ("logbook_label_agreement_val", f"{100 * agree_va:.1f}"),
        ("baseline_majority_val_acc", f"{100 * base_major:.1f}"),
        ("baseline_nearest_centroid_val_acc", f"{100 * base_cent:.1f}"),
    ])
    acc0, nll0, prev = evaluate(model, Xva, Yva)
    yaml_doc("untrained", [("val_acc", f"{100 * acc0:.1f}"), ("val_nll", f"{nll0:.4f}"),
                           ("chance_nll", f"{math.log(5):.4f}")])

    ckpt_dir = tempfile.mkdtemp()
    ckpt = os.path.join(ckpt_dir, "best.safetensors")
    best_acc, best_epoch = -1.0, 0
    step = 0
    for epoch in range(1, epochs + 1):
        perm = mx.array(rng.permutation(xtr.shape[0]))
        run = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            loss, grads = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            step += 1
        if epoch in (1, 4, 8, 12, 16):
            acc, nll, preds = evaluate(model, Xva, Yva)
            churn = (preds != prev).mean()
            prev = preds
            if acc > best_acc:
                best_acc, best_epoch = acc, epoch
                model.save_weights(ckpt)
            yaml_doc(f"epoch {epoch}", [
                ("step", step), ("lr", f"{float(opt.learning_rate.item()):.2e}"),
                ("train_loss_epoch_mean", f"{run / steps_per_epoch:.4f}"),
                ("val_acc", f"{100 * acc:.1f}"), ("val_nll", f"{nll:.4f}"),
                ("val_prediction_churn_pct", f"{100 * churn:.1f}"),
                ("bn1_running_mean_abs", f"{mx.abs(model.bn1.running_mean).mean().item():.3f}"),
                ("best_epoch", best_epoch),
            ])

    model.load_weights(ckpt)
    acc_t, nll_t, pred_t = evaluate(model, Xte, Yte)

    # Monte-Carlo dropout: BatchNorm stays on its running statistics,
    # only the dropout layers sample masks.
    model.eval()
    model.d1.train()
    model.d2.train()
    probs = mx.zeros((xte.shape[0], 5))
    T = 30
    for _ in range(T):
        probs = probs + mx.softmax(model(Xte), axis=1)
        mx.eval(probs)
    probs = probs / T
    model.eval()
    p_np = np.array(probs)
    mc_pred = p_np.argmax(1)
    ent = -(p_np * np.log(p_np + 1e-12)).sum(1)
    right = mc_pred == yte
    yaml_doc("final", [
        ("best_epoch", best_epoch), ("best_val_acc", f"{100 * best_acc:.1f}"),
        ("test_acc_deterministic", f"{100 * acc_t:.1f}"), ("test_nll", f"{nll_t:.4f}"),
        ("test_acc_mc_dropout", f"{100 * right.mean():.1f}"),
        ("mc_entropy_correct", f"{ent[right].mean():.3f}"),
        ("mc_entropy_misclassified", f"{ent[~right].mean():.3f}"),
        ("logbook_label_agreement_test", f"{100 * agree_te:.1f}"),
        ("seconds", f"{time.time() - t0:.1f}"),
    ])


if __name__ == "__main__":
    main()
