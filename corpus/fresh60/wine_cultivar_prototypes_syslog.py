"""Wine cultivar identification with a learned-prototype (distance) classifier.

13 synthetic physicochemical measurements per wine (alcohol, malic acid,
flavanoids, colour intensity, proline, ... with correlated within-cultivar
noise) -> 3 cultivars.  A learned linear metric projects the standardised
features to 6-D; each cultivar has 2 learned prototypes (raw mx.array
attribute) and the class logit is a log-sum-exp over its prototypes of
-||z - p||^2 / T with a learned log-temperature.  optim.SGD with momentum and
a linear warm-up joined to a step decay, shuffled minibatches of 32, a full
validation pass every epoch.  Every output line is an RFC 5424 syslog record.
"""
import os
import socket
import time
from datetime import datetime, timezone

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

HOST = socket.gethostname() or "-"
PID = os.getpid()


def syslog(severity, msgid, **sd):
    pri = 8 * 16 + severity  # facility local0
    ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    params = " ".join(f'{k}="{v}"' for k, v in sd.items())
    print(f"<{pri}>1 {ts} {HOST} winefit {PID} {msgid} [fit@32473 {params}]", flush=True)


def make_data(rng, n_per=(2400, 2800, 2000)):
    means = np.array([
        [13.7, 2.0, 2.4, 17.0, 106, 2.8, 2.9, 0.29, 1.9, 5.5, 1.06, 3.1, 1100],
        [12.3, 1.9, 2.2, 20.2, 94, 2.3, 2.1, 0.36, 1.6, 3.1, 1.06, 2.8, 520],
        [13.1, 3.3, 2.4, 21.4, 99, 1.7, 0.8, 0.45, 1.2, 7.4, 0.68, 1.7, 630],
    ])
    scales = np.array([0.55, 0.9, 0.25, 3.0, 13, 0.5, 0.6, 0.11, 0.5, 1.8, 0.2, 0.45, 200])
    X, y = [], []
    for c, n in enumerate(n_per):
        mix = rng.normal(size=(13, 13)) * 0.35 + np.eye(13)
        z = rng.normal(size=(n, 13)) @ mix.T / np.sqrt(1 + 0.35 ** 2 * 13 / 13)
        X.append(means[c] + 1.1 * z * scales)
        y.append(np.full(n, c))
    X = np.concatenate(X).astype(np.float32)
    y = np.concatenate(y).astype(np.int32)
    idx = rng.permutation(len(y))
    return X[idx], y[idx]


class PrototypeNet(nn.Module):
    def __init__(self, d_in, d_emb=6, n_cls=3, per_cls=2):
        super().__init__()
        self.proj = nn.Linear(d_in, d_emb)
        self.prototypes = mx.random.normal((n_cls, per_cls, d_emb))
        self.log_temp = mx.array(0.0)

    def __call__(self, x):
        z = self.proj(x)  # (B, d)
        d2 = mx.sum((z[:, None, None, :] - self.prototypes[None]) ** 2, axis=-1)  # (B, C, K)
        return mx.logsumexp(-d2 / mx.exp(self.log_temp), axis=-1)  # (B, C)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    X, y = make_data(rng)
    n_val = 1800
    Xtr, ytr, Xva, yva = X[n_val:], y[n_val:], X[:n_val], y[:n_val]
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
    Xva_m, yva_m = mx.array(Xva), mx.array(yva)

    model = PrototypeNet(13)
    mx.eval(model.parameters())
    bs, epochs = 32, 45
    steps_per_epoch = len(ytr) // bs
    warm = optim.linear_schedule(0.0, 0.05, steps=steps_per_epoch)
    decay = optim.step_decay(0.05, 0.5, 10 * steps_per_epoch)
    opt = optim.SGD(learning_rate=optim.join_schedules([warm, decay], [steps_per_epoch]),
                    momentum=0.9)
    vg = nn.value_and_grad(model, loss_fn)

    _, g0 = vg(model, mx.array(Xtr[:bs]), mx.array(ytr[:bs]))
    flat = tree_flatten(g0)
    zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
    syslog(6, "GRADCHECK", leaves=len(flat), zero_leaves=len(zero),
           names=",".join(k for k, _ in flat))
    syslog(6, "DATA", train=len(ytr), val=len(yva), classes=3,
           majority_val_acc=f"{np.bincount(yva).max() / len(yva):.3f}")

    t0 = time.time()
    for epoch in range(1, epochs + 1):
        perm = rng.permutation(len(ytr))
        tot, n = 0.0, 0
        for i in range(steps_per_epoch):
            b = perm[i * bs:(i + 1) * bs]
            loss, grads = vg(model, mx.array(Xtr[b]), mx.array(ytr[b]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * len(b)
            n += len(b)
        logits = model(Xva_m)
        val_ce = nn.losses.cross_entropy(logits, yva_m, reduction="mean").item()
        val_acc = mx.mean(mx.argmax(logits, axis=1) == yva_m).item()
        syslog(6, "EPOCH", epoch=epoch, train_ce=f"{tot / n:.4f}", val_ce=f"{val_ce:.4f}",
               val_acc=f"{val_acc:.3f}", lr=f"{opt.learning_rate.item():.4f}",
               temp=f"{mx.exp(model.log_temp).item():.3f}", secs=f"{time.time() - t0:.1f}")
    pred = np.array(mx.argmax(model(Xva_m), axis=1))
    per = [f"{np.mean(pred[yva == c] == c):.3f}" for c in range(3)]
    syslog(5, "DONE", per_cultivar_val_acc="/".join(per), epochs=epochs)


if __name__ == "__main__":
    main()
