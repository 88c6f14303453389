# Dead reckoning for a small sailboat: a GRU reads the log of (turn, speed,
# leeway) per 10-minute leg and estimates the final east/north offset in
# nautical miles.  Curriculum on passage length: 6 -> 12 -> 24 -> 32 legs.
# Longer passages have larger offsets, so the squared error jumps up at every
# stage change before it comes down again.
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rs = np.random.default_rng(3)


def passages(n, legs):
    turn = rs.normal(0, 0.25, (n, legs)) * (rs.random((n, legs)) < 0.4)
    hdg0 = rs.uniform(-np.pi, np.pi, (n, 1))
    heading = hdg0 + np.cumsum(turn, 1)
    speed = rs.uniform(3, 7, (n, 1)) + rs.normal(0, 0.4, (n, legs))   # knots
    leeway = rs.normal(0.05, 0.03, (n, legs))                          # rad
    dt = 1 / 6                                                         # hours
    track = heading + leeway
    dx = (speed * dt * np.sin(track)).sum(1)
    dy = (speed * dt * np.cos(track)).sum(1)
    feats = np.stack([turn * 4, (speed - 5) / 1.2, leeway * 20,
                      np.broadcast_to(np.sin(hdg0), turn.shape),
                      np.broadcast_to(np.cos(hdg0), turn.shape)], -1)
    return mx.array(feats.astype(np.float32)), mx.array(np.stack([dx, dy], 1).astype(np.float32))


class Navigator(nn.Module):
    def __init__(self, hid=48):
        super().__init__()
        self.inp = nn.Linear(5, hid)
        self.rnn = nn.GRU(hid, hid)
        self.out = nn.Linear(hid, 2)

    def __call__(self, x):
        h = self.rnn(nn.gelu(self.inp(x)))
        return self.out(h[:, -1, :]) * 4.0


def loss_fn(model, x, y):
    return mx.mean(mx.sum((model(x) - y) ** 2, -1))


mx.random.seed(21)
model = Navigator()
opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)
vg = nn.value_and_grad(model, loss_fn)


def position_error(x, y):
    return mx.sqrt(mx.sum((model(x) - y) ** 2, -1))


stages = [(6, 200), (12, 200), (24, 250), (32, 300)]
val = {L: passages(400, L) for L, _ in stages}
print("dead reckoning GRU: %d parameters" % sum(v.size for _, v in tree_flatten(model.parameters())))
print("columns: stage legs step sq_err(nm^2, 50-step mean) | val_err_nm@32 legs  fix_within_1nm@32 legs")

step = 0
t0 = time.time()
for s_i, (L, n_steps) in enumerate(stages):
    window = []
    for k in range(n_steps):
        x, y = passages(48, L)
        loss, g = vg(model, x, y)
        if step == 0:
            flat = tree_flatten(g)
            nz = sum(1 for _, v in flat if mx.any(v != 0).item())
            print(f"first step: {nz}/{len(flat)} gradient leaves non-zero, sq_err={loss.item():.2f} nm^2")
        g, gn = optim.clip_grad_norm(g, 5.0)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        step += 1
        if (k + 1) % 50 == 0:
            xv, yv = val[32]
            err = position_error(xv, yv)
            print(f"{s_i + 1} {L:3d} {step:5d} {np.mean(window[-50:]):8.3f} | "
                  f"{err.mean().item():6.3f} {(err < 1.0).mean().item():.3f}")
    xv, yv = val[L]
    print(f"-- end of stage {s_i + 1}: mean position error on {L}-leg passages {position_error(xv, yv).mean().item():.3f} nm "
          f"(naive zero guess {mx.sqrt(mx.sum(yv ** 2, -1)).mean().item():.2f} nm)")
print(f"done in {time.time() - t0:.1f}s")
