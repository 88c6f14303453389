# Vending-machine restocking as a contextual bandit.
# Each visit the route driver picks which of 5 products to load into the spare slot;
# the reward is the (noisy) margin sold before the next visit.  Policy = small MLP,
# trained with REINFORCE and a learned baseline.  Halfway through, a "heatwave"
# season changes demand, so the reward drops and has to be re-learned.
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PRODUCTS = ["cola", "water", "crisps", "choc", "coffee"]
D, A = 6, len(PRODUCTS)
rng = np.random.default_rng(11)

W_spring = rng.normal(0, 0.8, size=(D, A))
b_spring = np.array([0.6, 0.3, 0.5, 0.4, 0.2])
W_heat = W_spring.copy()
W_heat[:, 1] += rng.normal(0, 0.9, size=D)      # water reacts differently in a heatwave
W_heat[:, 4] -= 0.6                              # nobody wants hot coffee
b_heat = b_spring + np.array([-0.4, 0.5, -0.9, -1.2, -1.3])


def contexts(n):
    hour = rng.uniform(0, 24, n)
    return np.stack([np.sin(hour / 24 * 2 * np.pi), np.cos(hour / 24 * 2 * np.pi),
                     rng.normal(0, 1, n),              # temperature anomaly
                     (rng.uniform(0, 1, n) < 2 / 7).astype(float) * 2 - 1,  # weekend
                     rng.normal(0, 1, n),              # footfall
                     (rng.uniform(0, 1, n) < 0.1).astype(float)], 1)        # event nearby


def expected_margin(x, W, b):
    return x @ W + b


class Driver(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh())
        self.logits = nn.Linear(32, A)
        self.baseline = nn.Linear(D, 1)

    def __call__(self, x):
        return self.logits(self.body(x)), self.baseline(x).squeeze(-1)


def loss_fn(model, x, act, rew):
    logits, base = model(x)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    lp_a = mx.take_along_axis(logp, act[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(rew - base)
    pg = -mx.mean(lp_a * adv)
    vloss = 0.5 * mx.mean((base - rew) ** 2)
    ent = -mx.mean(mx.sum(mx.exp(logp) * logp, axis=-1))
    return pg + vloss - 0.01 * ent, (pg, vloss, ent)


model = Driver()
mx.eval(model.parameters())
lr = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 150), lambda s: 2e-3], [150])
opt = optim.RMSprop(learning_rate=lr, alpha=0.95)
vg = nn.value_and_grad(model, lambda m, x, a, r: loss_fn(m, x, a, r)[0])

x_eval = contexts(2000)
xe = mx.array(x_eval, dtype=mx.float32)

# one-off audit: every trained tensor gets a gradient
_x = contexts(64)
_g = vg(model, mx.array(_x, dtype=mx.float32), mx.array(rng.integers(0, A, 64)),
        mx.array(rng.normal(0, 1, 64), dtype=mx.float32))[1]
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(_g) if float(mx.abs(v).sum()) == 0.0]
print("grad audit: %d tensors, %d with zero gradient" % (len(tree_flatten(_g)), len(zero)))

BATCH, STEPS = 128, 1200
for stage, (W, b, name) in enumerate([(W_spring, b_spring, "spring"), (W_heat, b_heat, "heatwave")], 1):
    em = expected_margin(x_eval, W, b)
    rand_ref, oracle = em.mean(), em.max(1).mean()
    run_r = 0.0
    for it in range(1, STEPS + 1):
        xc = contexts(BATCH)
        xm = mx.array(xc, dtype=mx.float32)
        logits, _ = model(xm)
        act = mx.random.categorical(logits)
        a_np = np.array(act)
        r_np = expected_margin(xc, W, b)[np.arange(BATCH), a_np] + rng.normal(0, 1.0, BATCH)
        loss, grads = vg(model, xm, act, mx.array(r_np, dtype=mx.float32))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run_r = 0.95 * run_r + 0.05 * r_np.mean() if it > 1 else r_np.mean()
        if it % 150 == 0 or it in (1, 20, 60):
            greedy = np.array(mx.argmax(model(xe)[0], axis=-1))
            g_val = em[np.arange(len(em)), greedy].mean()
            _, (pg, vl, ent) = loss_fn(model, xm, act, mx.array(r_np, dtype=mx.float32))
            bar = "#" * (it * 20 // STEPS)
            print(f"{name:>8} {it:4d}/{STEPS} [{bar:<20}] sampled {run_r:+.3f}  greedy {g_val:+.3f} "
                  f"(random {rand_ref:+.3f} / oracle {oracle:+.3f})  regret {oracle - g_val:.3f}  "
                  f"pg {float(pg):+.3f} v {float(vl):.3f} H {float(ent):.2f}  lr {float(opt.learning_rate):.1e}")
    mix = np.bincount(np.array(mx.argmax(model(xe)[0], axis=-1)), minlength=A) / len(x_eval)
    print(f"  [{name}] greedy restock mix: " + ", ".join(f"{p} {100 * m:.0f}%" for p, m in zip(PRODUCTS, mix)))
