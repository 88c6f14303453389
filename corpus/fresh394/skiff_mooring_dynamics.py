# Harbour skiff with two thrusters: learn a forward model (state, thrust -> next state)
# and an inverse model (state, next state -> thrust) side by side from logged transitions.
# Commanded thrust beyond +-1 saturates, so the inverse model cannot recover it exactly.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(5)
mx.random.seed(5)
DT, DRAG, GAIN = 0.2, 0.4, 1.5


def current(pos):
    return np.stack([0.3 * np.sin(pos[:, 1]), 0.2 * np.cos(0.7 * pos[:, 0])], axis=1)


def simulate(n):
    s = np.concatenate([rng.uniform(-3, 3, (n, 2)), rng.normal(0, 0.8, (n, 2))], axis=1)
    a = rng.uniform(-1.6, 1.6, (n, 2))
    a_eff = np.clip(a, -1.0, 1.0)
    acc = GAIN * a_eff - DRAG * s[:, 2:] + current(s[:, :2])
    v_next = s[:, 2:] + DT * acc + rng.normal(0, 0.02, (n, 2))
    p_next = s[:, :2] + DT * v_next
    s_next = np.concatenate([p_next, v_next], axis=1)
    return s.astype(np.float32), a.astype(np.float32), s_next.astype(np.float32)


s_tr, a_tr, n_tr = simulate(8000)
s_te, a_te, n_te = simulate(2000)
D_SCALE = np.std(n_tr - s_tr, axis=0).astype(np.float32)
S_tr, A_tr, N_tr = map(mx.array, (s_tr, a_tr, n_tr))
S_te, A_te, N_te = map(mx.array, (s_te, a_te, n_te))
D_SCALE_m = mx.array(D_SCALE)


def mlp(i, o, h=64):
    return nn.Sequential(nn.Linear(i, h), nn.GELU(), nn.Linear(h, h), nn.GELU(), nn.Linear(h, o))


fwd = mlp(6, 4)        # predicts scaled state change
inv = mlp(8, 2)        # predicts commanded thrust
mx.eval(fwd.parameters(), inv.parameters())


def fwd_loss(m, s, a, s_next):
    pred = m(mx.concatenate([s, a], axis=1))
    return mx.mean((pred - (s_next - s) / D_SCALE_m) ** 2)


def inv_loss(m, s, a, s_next):
    pred = m(mx.concatenate([s, (s_next - s) / D_SCALE_m], axis=1))
    return mx.mean((pred - a) ** 2)


STEPS, BATCH = 900, 128
# forward model: SGD with momentum on cosine warm restarts (cycles of 150, 300, 450 steps)
CYCLES = [150, 300, 450]


def fwd_lr(step):
    start = 0
    for c in CYCLES:
        if step < start + c:
            t = (step - start) / c
            return 1e-5 + 0.5 * (0.05 - 1e-5) * (1 + math.cos(math.pi * t))
        start += c
    return 1e-5


# inverse model: AdamW, linear warmup from exactly 0 over 100 steps, then constant
inv_sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 100), lambda _: 2e-3], [100])
opt_f = optim.SGD(learning_rate=fwd_lr(0), momentum=0.9)
opt_i = optim.AdamW(learning_rate=inv_sched, weight_decay=1e-4)
vg_f = nn.value_and_grad(fwd, fwd_loss)
vg_i = nn.value_and_grad(inv, inv_loss)

# baselines on test: forward "no change" and inverse "predict zero thrust"
base_fwd = mx.mean(((N_te - S_te) / D_SCALE_m) ** 2).item()
base_inv = mx.mean(A_te ** 2).item()
clip_mask = np.any(np.abs(a_te) > 1.0, axis=1)
print(f"baselines: forward no-change mse {base_fwd:.4f} | inverse zero-thrust mse {base_inv:.4f} | "
      f"saturated share of test {clip_mask.mean():.2f}")

for step in range(STEPS):
    idx = mx.array(rng.integers(0, 8000, BATCH))
    s, a, sn = S_tr[idx], A_tr[idx], N_tr[idx]
    opt_f.learning_rate = fwd_lr(step)
    lf, gf = vg_f(fwd, s, a, sn)
    opt_f.update(fwd, gf)
    li, gi = vg_i(inv, s, a, sn)
    opt_i.update(inv, gi)
    mx.eval(fwd.parameters(), inv.parameters(), opt_f.state, opt_i.state, lf, li)
    if (step + 1) % 30 == 0:
        print(f"step {step + 1:4d} | fwd mse {lf.item():.5f} lr {fwd_lr(step):.4f} | "
              f"inv mse {li.item():.4f} lr {opt_i.learning_rate.item():.5f}")
    if (step + 1) in (150, 450, 900):
        tf = fwd_loss(fwd, S_te, A_te, N_te).item()
        ti = inv_loss(inv, S_te, A_te, N_te).item()
        print(f"  end of cycle at {step + 1}: test fwd mse {tf:.5f} (no-change {base_fwd:.4f}) | "
              f"test inv mse {ti:.4f} (zero {base_inv:.4f})")

pred_a = np.array(inv(mx.concatenate([S_te, (N_te - S_te) / D_SCALE_m], axis=1)))
err = ((pred_a - a_te) ** 2).mean(1)
err_eff = ((np.clip(pred_a, -1, 1) - np.clip(a_te, -1, 1)) ** 2).mean(1)
print(f"inverse mse: unsaturated {err[~clip_mask].mean():.4f} | saturated {err[clip_mask].mean():.4f} | "
      f"effective-thrust mse {err_eff.mean():.4f}")
# one-step control check: ask the inverse model for the thrust to reach a target, roll it through the simulator
tgt_s, tgt_a, tgt_n = s_te[:500], a_te[:500], n_te[:500]
a_cmd = np.array(inv(mx.concatenate([mx.array(tgt_s), (mx.array(tgt_n) - mx.array(tgt_s)) / D_SCALE_m], axis=1)))
acc = GAIN * np.clip(a_cmd, -1, 1) - DRAG * tgt_s[:, 2:] + current(tgt_s[:, :2])
v_hit = tgt_s[:, 2:] + DT * acc
acc_r = GAIN * np.clip(rng.uniform(-1.6, 1.6, (500, 2)), -1, 1) - DRAG * tgt_s[:, 2:] + current(tgt_s[:, :2])
v_rand = tgt_s[:, 2:] + DT * acc_r
print(f"control: velocity miss with inverse model {np.abs(v_hit - tgt_n[:, 2:]).mean():.4f} m/s | "
      f"random thrust {np.abs(v_rand - tgt_n[:, 2:]).mean():.4f} m/s")
