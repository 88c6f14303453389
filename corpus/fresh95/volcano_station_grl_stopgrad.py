"""Volcano observatory: transfer an event classifier from station A to station B.

Station A (old seismometer) has analyst labels: tectonic quake / rockfall / tremor.
Station B (new digitiser, different gain and site response) has none yet.
Domain-adversarial training (DANN): a shared feature net, an event head trained
on station A only, and a station head behind a gradient reversal layer.
Station B labels are generated too, but only used to score the run.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_FEAT = 10
CLASSES = ["quake", "rockfall", "tremor"]


def make_events(rng, n, station):
    y = rng.integers(0, 3, size=n)
    centres = np.array([
        [1.5, -0.5, 0.8, 0.0, 1.0, -1.0, 0.3, 0.0, 0.5, -0.2],
        [-1.0, 1.2, -0.3, 0.9, -0.5, 0.4, -1.0, 0.6, 0.0, 0.3],
        [0.0, -0.8, -1.1, -0.7, 0.2, 0.9, 0.8, -0.9, -0.6, 0.1],
    ])
    x = centres[y] + rng.normal(0.0, 1.0, size=(n, N_FEAT))
    if station == "B":
        # new digitiser: gain change, mixed channels and an offset
        mix = np.eye(N_FEAT) + 0.45 * np.roll(np.eye(N_FEAT), 1, axis=1)
        x = 1.6 * x @ mix + np.linspace(-1.2, 1.5, N_FEAT)
    return x.astype(np.float32), y.astype(np.int32)


def reverse_grad(x, lam):
    """Gradient reversal without a custom vjp: the forward value is x
    ((1 + lam) * x - lam * x), the gradient is -lam, because the first
    term is hidden from autodiff by stop_gradient."""
    return mx.stop_gradient((1.0 + lam) * x) - lam * x


class DANN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Linear(N_FEAT, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU()
        )
        self.event_head = nn.Linear(32, 3)
        self.station_head = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))

    def __call__(self, x):
        return self.event_head(self.features(x))

    def station_logit(self, x, lam):
        return self.station_head(reverse_grad(self.features(x), lam)).squeeze(-1)


def objective(model, xa, ya, xb, lam):
    event_ce = nn.losses.cross_entropy(model(xa), ya, reduction="mean")
    both = mx.concatenate([xa, xb], axis=0)
    station = mx.concatenate([mx.zeros(xa.shape[0]), mx.ones(xb.shape[0])])
    st_logit = model.station_logit(both, lam)
    station_bce = nn.losses.binary_cross_entropy(st_logit, station, reduction="mean")
    st_acc = mx.mean((st_logit > 0) == (station > 0.5))
    return event_ce + station_bce, (event_ce, station_bce, st_acc)


def accuracy(model, x, y):
    return float(mx.mean(mx.argmax(model(x), axis=1) == y).item())


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xa, ya = make_events(rng, 6000, "A")
    xa_val, ya_val = make_events(rng, 1500, "A")
    xb, yb_hidden = make_events(rng, 6000, "B")
    xb_test, yb_test = make_events(rng, 1500, "B")
    # standardise with station A statistics only (what the observatory has)
    mu, sd = xa.mean(0), xa.std(0)
    norm = lambda a: mx.array((a - mu) / sd)
    XA, XAv, XB, XBt = norm(xa), norm(xa_val), norm(xb), norm(xb_test)
    YA, YAv, YBt = mx.array(ya), mx.array(ya_val), mx.array(yb_test)

    total_steps, batch = 1500, 64
    lr0 = 1e-3

    model = DANN()
    opt = optim.Adam(learning_rate=lr0)
    step_fn = nn.value_and_grad(model, objective)

    print("volcano observatory - DANN transfer, station A -> station B")
    print(f"  station A: {len(ya)} labelled events, {len(ya_val)} held out")
    print(f"  station B: {len(yb_hidden)} unlabelled events, {len(yb_test)} scored only at the end of each report")
    n_par = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"  parameters: {n_par}")
    print(f"  untrained: A val acc {100*accuracy(model, XAv, YAv):5.1f}%   B test acc {100*accuracy(model, XBt, YBt):5.1f}%")

    pa = rng.permutation(len(ya))
    pb = rng.permutation(len(yb_hidden))
    ca = cb = 0
    win = []
    print()
    print("  step   lambda   event_ce  station_bce  station_acc  A_val_acc  B_test_acc   secs")
    print("  " + "~" * 79)
    for step in range(1, total_steps + 1):
        if ca + batch > len(pa):
            pa, ca = rng.permutation(len(ya)), 0
        if cb + batch > len(pb):
            pb, cb = rng.permutation(len(yb_hidden)), 0
        ia = mx.array(pa[ca:ca + batch]); ca += batch
        ib = mx.array(pb[cb:cb + batch]); cb += batch
        p = (step - 1) / total_steps
        lam = mx.array(2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0)
        (loss, (ece, sbce, sacc)), grads = step_fn(model, XA[ia], YA[ia], XB[ib], lam)
        if step == 1:
            # lambda is 0 at step 1, so check the station head and the features on a lambda=1 probe too
            (_, _), g1 = step_fn(model, XA[ia], YA[ia], XB[ib], mx.array(1.0))
            leaves = tree_flatten(g1)
            zero = [k for k, g in leaves if float(mx.max(mx.abs(g)).item()) == 0.0]
            print(f"  grad check (lambda=1 probe): {len(leaves)} leaves, zero-gradient leaves: {zero or 'none'}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, ece, sbce, sacc)
        win.append((ece.item(), sbce.item(), sacc.item()))
        if step == 1 or step % 150 == 0:
            w = np.array(win)
            win = []
            print(f"  {step:4d}  {lam.item():7.3f}   {w[:,0].mean():8.4f}   {w[:,1].mean():10.4f}"
                  f"   {100*w[:,2].mean():9.1f}%  {100*accuracy(model, XAv, YAv):8.1f}%  {100*accuracy(model, XBt, YBt):9.1f}%"
                  f"  {time.perf_counter()-t0:6.1f}")
    print("  " + "~" * 79)
    print("  note: station_acc near 50% means the features no longer tell the stations apart (the aim);")
    print("        station_bce near ln 2 = 0.693 is the confused end state.")
    print(f"  done in {time.perf_counter()-t0:.1f}s: A val acc {100*accuracy(model, XAv, YAv):.1f}%, "
          f"B test acc {100*accuracy(model, XBt, YBt):.1f}%")


if __name__ == "__main__":
    main()
