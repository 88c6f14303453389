# Winter road maintenance: a depot picks a salt spread rate for each road
# section from the evening forecast. Policy gradient (REINFORCE with a learned
# value baseline), hand-written momentum SGD, compiled update step.
import sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

RATES = np.array([0, 8, 15, 22, 30, 40], dtype=np.float32)   # g/m^2
SALT_COST = 0.045                                              # per g/m^2
rng = np.random.default_rng(4177)
mx.random.seed(4177)

def forecast(n):
    road_temp = rng.normal(-1.0, 3.5, n)            # deg C at dawn
    dew_gap = rng.gamma(2.0, 1.2, n)                # road temp minus dew point
    precip = rng.binomial(1, 0.35, n) * rng.gamma(1.5, 1.5, n)   # mm
    traffic = rng.uniform(0, 1, n)                  # 0 lane, 1 trunk road
    feats = np.stack([road_temp / 4, dew_gap / 3, precip / 3, traffic, (road_temp < 0) * 1.0], 1)
    return feats.astype(np.float32), road_temp, dew_gap, precip, traffic

def needed_salt(road_temp, dew_gap, precip):
    # made-up law: colder and wetter needs more; warm dry roads need none
    need = np.maximum(0, 6 - 2.2 * road_temp) * (1 + 1.3 * precip) * (dew_gap < 2.5) \
           + np.maximum(0, -road_temp) * 1.5 * precip
    return np.clip(need, 0, 45)

def reward_table(road_temp, dew_gap, precip, traffic):
    need = needed_salt(road_temp, dew_gap, precip)[:, None]
    short = np.maximum(0, need - RATES[None, :])
    ice_penalty = (0.12 + 0.25 * traffic[:, None]) * short          # accident / delay cost
    return (-ice_penalty - SALT_COST * RATES[None, :]).astype(np.float32)

class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh())
        self.pi = nn.Linear(48, len(RATES))
        self.v = nn.Linear(48, 1)
    def __call__(self, x):
        h = self.body(x)
        return self.pi(h), self.v(h).squeeze(-1)

def loss_fn(model, x, a, r, ent_coef):
    logits, v = model(x)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    lp_a = mx.take_along_axis(logp, a[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(r - v)
    pg = -mx.mean(lp_a * adv)
    vf = mx.mean((v - r) ** 2)
    ent = -mx.mean(mx.sum(mx.exp(logp) * logp, axis=-1))
    return pg + 0.5 * vf - ent_coef * ent, (pg, vf, ent)

model = Policy()
mx.eval(model.parameters())
velocity = tree_map(mx.zeros_like, model.parameters())
state = [model.state, velocity]
vg = nn.value_and_grad(model, loss_fn)

def _sgd_step_inner(x, a, r, lr, ent_coef):
    (loss, aux), g = vg(model, x, a, r, ent_coef)
    g = tree_map(lambda t: mx.clip(t, -1.0, 1.0), g)
    new_v = tree_map(lambda v_, g_: 0.9 * v_ + g_, state[1], g)
    model.update(tree_map(lambda p, v_: p - lr * v_, model.parameters(), new_v))
    state[1] = new_v
    return loss, aux[0], aux[1], aux[2]

sgd_step = mx.compile(lambda *a: _sgd_step_inner(*a), inputs=state, outputs=state)

# references on a fixed evaluation night set
xe, te, de, pe, tre = forecast(4000)
Re = reward_table(te, de, pe, tre)
ref_fixed = Re[:, 3].mean()                  # "always 22 g/m^2" depot rule
ref_random = Re.mean()
ref_oracle = Re.max(1).mean()
xe = mx.array(xe)

def evaluate():
    logits, _ = model(xe)
    greedy = np.array(mx.argmax(logits, -1))
    return Re[np.arange(len(greedy)), greedy].mean(), np.bincount(greedy, minlength=len(RATES))

# initial gradient audit
x0, t0_, d0, p0, tr0 = forecast(512)
a0 = mx.array(rng.integers(0, len(RATES), 512))
r0 = mx.array(reward_table(t0_, d0, p0, tr0)[np.arange(512), np.array(a0)])
_, g0 = vg(model, mx.array(x0), a0, r0, 0.01)
print("grad check:", "  ".join(f"{k}={mx.linalg.norm(v.reshape(-1)).item():.1e}" for k, v in tree_flatten(g0)))
print(f"reference reward/section (higher is better): random {ref_random:.3f}  fixed-22g {ref_fixed:.3f}  oracle {ref_oracle:.3f}")

iters, batch = 1500, 256
t_start = time.time()
hist = []
for it in range(1, iters + 1):
    x, tt, dd, pp, trf = forecast(batch)
    xm = mx.array(x)
    logits, _ = model(xm)
    a = mx.random.categorical(logits)
    R = reward_table(tt, dd, pp, trf)
    r = mx.array(R[np.arange(batch), np.array(a)])
    lr = 0.02 if it < 1000 else 0.006
    ent_coef = 0.02 * max(0.0, 1 - it / 1000)
    loss, pg, vf, ent = sgd_step(xm, a, r, mx.array(lr), mx.array(ent_coef))
    mx.eval(loss, pg, vf, ent, model.parameters(), state[1])
    hist.append(r.mean().item())
    if it % 100 == 0:
        el = time.time() - t_start
        bar = "#" * (20 * it // iters)
        greedy_r, counts = evaluate()
        sys.stdout.write(f"\rnights: {100*it/iters:3.0f}%|{bar:<20}| {it}/{iters} [{el:4.1f}s, {it/el:5.0f}it/s, "
                         f"sampled_r={np.mean(hist[-100:]):+.3f} greedy_r={greedy_r:+.3f} pg={pg.item():+.3f} "
                         f"vf={vf.item():.3f} H={ent.item():.2f}]\n")
        sys.stdout.flush()

greedy_r, counts = evaluate()
print(f"final greedy reward {greedy_r:+.3f} vs fixed-22g {ref_fixed:+.3f} vs oracle {ref_oracle:+.3f} "
      f"(gap closed {100*(greedy_r-ref_fixed)/(ref_oracle-ref_fixed):.0f}%)")
print("spread-rate usage (g/m^2: share):", ", ".join(f"{int(g)}: {c/counts.sum():.0%}" for g, c in zip(RATES, counts)))
