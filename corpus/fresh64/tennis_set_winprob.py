"""In-play win probability for one tennis set (advantage set, no tie-break).

State = games and points of both players, who serves, and the two players'
serve-point win rates.  Labels are the simulated winner of the rest of the set
(one Bernoulli draw per state), so the loss has a big irreducible floor; the
validation states also get a 300-rollout Monte-Carlo reference probability.
Silent while training; a scoreboard-like report is printed at the end."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)


def play_out(ga, gb, pa, pb, srv, pa_serve, pb_serve, r):
    """Finish the set from the given state; returns 1 if player A wins."""
    while True:
        p = pa_serve if srv == 0 else pb_serve
        # finish the current game
        while True:
            if r.random() < p:
                if srv == 0:
                    pa += 1
                else:
                    pb += 1
            else:
                if srv == 0:
                    pb += 1
                else:
                    pa += 1
            if pa >= 4 and pa - pb >= 2:
                ga += 1
                break
            if pb >= 4 and pb - pa >= 2:
                gb += 1
                break
        pa = pb = 0
        srv = 1 - srv
        if ga >= 6 and ga - gb >= 2:
            return 1
        if gb >= 6 and gb - ga >= 2:
            return 0
        p = pa_serve if srv == 0 else pb_serve


def random_state(r):
    ga, gb = int(r.integers(0, 7)), int(r.integers(0, 7))
    if abs(ga - gb) >= 2 and max(ga, gb) >= 6:
        ga = gb = 5
    pa, pb = int(r.integers(0, 5)), int(r.integers(0, 5))
    if abs(pa - pb) >= 2 and max(pa, pb) >= 4:
        pa, pb = 3, 3
    srv = int(r.integers(0, 2))
    sa, sb = r.uniform(0.50, 0.75), r.uniform(0.50, 0.75)
    return ga, gb, pa, pb, srv, sa, sb


def features(st):
    ga, gb, pa, pb, srv, sa, sb = st
    return [ga / 6, gb / 6, (ga - gb) / 3, pa / 4, pb / 4, (pa - pb) / 2, float(srv),
            (sa - 0.625) * 8, (sb - 0.625) * 8, (sa - sb) * 8]


def build(n, mc=0):
    X, y, ref = [], [], []
    for _ in range(n):
        st = random_state(rng)
        X.append(features(st))
        y.append(play_out(*st, rng))
        if mc:
            ref.append(np.mean([play_out(*st, rng) for _ in range(mc)]))
    return (np.array(X, np.float32), np.array(y, np.float32),
            np.array(ref, np.float32) if mc else None)


t_data = time.time()
Xtr, ytr, _ = build(12000)
Xva, yva, pva = build(500, mc=300)
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
t_data = time.time() - t_data

model = nn.Sequential(nn.Linear(10, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.binary_cross_entropy(m(x).squeeze(-1), y, with_logits=True)


vg = nn.value_and_grad(model, loss_fn)
_, g0 = vg(model, Xtr[:128], ytr[:128])
flat = tree_flatten(g0)
zero_leaves = [k for k, v in flat if not mx.any(v != 0).item()]

EPOCHS, BS = 20, 100
steps_total = EPOCHS * (Xtr.shape[0] // BS)
sched = optim.cosine_decay(0.05, steps_total, end=0.002)
opt = optim.SGD(learning_rate=sched, momentum=0.9, weight_decay=5e-5)

history = []
t0 = time.time()
for ep in range(EPOCHS):
    order = mx.array(rng.permutation(Xtr.shape[0]))
    losses = []
    for j in range(0, Xtr.shape[0], BS):
        b = order[j:j + BS]
        loss, g = vg(model, Xtr[b], ytr[b])
        opt.update(model, g)
        mx.eval(loss, model.parameters(), opt.state)
        losses.append(loss.item())
    p = mx.sigmoid(model(Xva).squeeze(-1))
    p_np = np.array(p)
    brier_label = float(np.mean((p_np - np.array(yva)) ** 2))
    mae_ref = float(np.mean(np.abs(p_np - pva)))
    history.append((ep + 1, float(np.mean(losses)), brier_label, mae_ref, opt.learning_rate.item()))
elapsed = time.time() - t0

# ---- report, printed once at the end -------------------------------------------
print("=" * 66)
print(" CENTRE COURT  --  set win-probability model".center(66))
print("=" * 66)
print(f" data: {Xtr.shape[0]} train states, {Xva.shape[0]} val states x 300 rollouts ({t_data:.1f}s)")
print(f" gradient audit: {len(flat)} leaves, zero-gradient leaves: {zero_leaves or 'none'}")
const = float(np.mean(np.array(ytr)))
print(f" baseline (always {const:.3f}): val brier {float(np.mean((const - np.array(yva)) ** 2)):.4f}, "
      f"|p - mc| {float(np.mean(np.abs(const - pva))):.4f}")
print(" MC-reference floor: brier of the MC probability itself "
      f"{float(np.mean((pva - np.array(yva)) ** 2)):.4f}")
print("-" * 66)
print(f" {'SET':>4} {'train bce':>10} {'val brier':>10} {'|p-mc|':>8} {'lr':>9}")
for ep, tl, br, mae, lr in history:
    if ep in (1, 2, 3, 5) or ep % 5 == 0:
        print(f" {ep:>4} {tl:>10.4f} {br:>10.4f} {mae:>8.4f} {lr:>9.5f}")
print("-" * 66)
for name, st in [("5-5, 40-40, A serving, even servers", (5, 5, 3, 3, 0, 0.65, 0.65)),
                 ("5-4, 0-40, A serving for the set", (5, 4, 0, 3, 0, 0.62, 0.62)),
                 ("0-3, 0-0, B strong server", (0, 3, 0, 0, 1, 0.60, 0.72)),
                 ("4-4, 15-30, B serving", (4, 4, 1, 2, 1, 0.66, 0.64))]:
    pm = mx.sigmoid(model(mx.array([features(st)], dtype=mx.float32))).item()
    mc = np.mean([play_out(*st, rng) for _ in range(2000)])
    print(f" {name:<40} model {pm:.3f}  rollout {mc:.3f}")
print(f" game, set and match: {EPOCHS} epochs in {elapsed:.1f}s")
