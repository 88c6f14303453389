# Tidal-bore arrival tagging on river pressure-logger traces with a dilated Conv1d stack.
# Three curriculum stages (each harder: weaker bore, more wind chop); every stage restarts
# its step counter, its SGD momentum and its learning rate from exactly 0.
import json
import logging
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
log = logging.getLogger("bore")
rng = np.random.default_rng(11)
T = 96
STAGES = [  # (bore height m, chop sd m, steps)
    ("calm_spring", 0.60, 0.03, 75),
    ("neap_breeze", 0.30, 0.08, 75),
    ("neap_gale", 0.18, 0.12, 75),
]


def traces(n, height, chop):
    t = np.arange(T, dtype=np.float32)
    x = np.empty((n, T), np.float32)
    y = np.zeros((n, T), np.int32)  # 0 before bore, 1 bore front (6 samples), 2 after
    onset = rng.integers(15, T - 20, size=n)
    for i in range(n):
        tide = 0.4 * np.sin(2 * np.pi * t / rng.uniform(300, 500) + rng.uniform(0, 6))
        h = height * rng.uniform(0.7, 1.3)
        after = np.clip(t - onset[i], 0, None)
        bore = (t >= onset[i]) * h * (1 + 0.35 * np.exp(-after / 10) * np.sin(after * 1.3))
        x[i] = tide + bore + rng.normal(0, chop, T)
        y[i, onset[i]:onset[i] + 6] = 1
        y[i, onset[i] + 6:] = 2
    dx = np.diff(x, axis=1, prepend=x[:, :1])
    return np.stack([x, dx * 3], -1), y, onset


class DilatedTagger(nn.Module):
    def __init__(self, ch=16):
        super().__init__()
        self.inp = nn.Conv1d(2, ch, 3, padding=1)
        self.blocks = [nn.Conv1d(ch, ch, 3, padding=d, dilation=d) for d in (1, 2, 4, 8)]
        self.out = nn.Conv1d(ch, 3, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        for b in self.blocks:
            h = h + nn.gelu(b(h))
        return self.out(h)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def onset_from_tags(logits):
    # front-class probability summed over a 6-sample window; onset = window start
    p1 = np.array(mx.softmax(logits, -1)[..., 1])
    c = np.cumsum(np.pad(p1, ((0, 0), (1, 0))), 1)
    win = c[:, 6:] - c[:, :-6]
    return win.argmax(1)


mx.random.seed(5)
model = DilatedTagger()
lg = nn.value_and_grad(model, loss_fn)
xv_all = {}
for name, hgt, chop, _ in STAGES:
    xv, yv, ov = traces(256, hgt, chop)
    # reference picker: largest first difference
    ref = np.abs(xv[:, :, 1]).argmax(1)
    xv_all[name] = (mx.array(xv), yv, ov, float(np.mean(np.abs(ref - ov))))

for si, (name, hgt, chop, steps) in enumerate(STAGES):
    warm = 15
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.05, warm), optim.cosine_decay(0.05, steps - warm, 0.002)],
        [warm])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    xv, yv, ov, ref_mae = xv_all[name]
    for step in range(steps):
        xb, yb, _ = traces(48, hgt, chop)
        lr_now = opt.learning_rate.item()
        loss, g = lg(model, mx.array(xb), mx.array(yb))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 15 == 0 or step == steps - 1:
            logits = model(xv)
            vce = nn.losses.cross_entropy(logits, mx.array(yv), reduction="mean").item()
            pred = np.array(mx.argmax(logits, -1))
            mae = float(np.mean(np.abs(onset_from_tags(logits) - ov)))
            tp = np.sum((pred == 1) & (yv == 1))
            f1 = 2 * tp / (np.sum(pred == 1) + np.sum(yv == 1) + 1e-9)
            log.info(json.dumps({
                "stage": si, "tag": name, "step": step, "lr": round(lr_now, 5),
                "ce": round(loss.item(), 4), "val_ce": round(vce, 4),
                "front_f1_pct": round(100 * f1, 1), "onset_mae_samp": round(mae, 2),
                "ref_picker_mae": round(ref_mae, 2)}))

summary = {}
for name, (xv, yv, ov, ref_mae) in xv_all.items():
    summary[name] = round(float(np.mean(np.abs(onset_from_tags(model(xv)) - ov))), 2)
log.info("final onset MAE (samples) per condition: %s", json.dumps(summary))
