# Tram driver's approach choice as a contextual bandit, learned with REINFORCE.
# At 400 m before a stop the driver picks one of three approach styles:
#   0 = power-through, 1 = coast-then-brake, 2 = early regenerative brake.
# The payoff (negative energy in kWh plus a lateness penalty) is noisy and
# depends on speed, gradient, timetable slack, passenger load and rail state.
# Adam learning rate warms up linearly from exactly 0.0; the step is compiled.
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(2210)
FEATS = ["dist_km", "speed_kmh", "grade_pct", "slack_s", "load", "wet"]
N_ACT, BATCH, UPDATES = 3, 96, 700
ACTS = ["power", "coast", "regen"]


def sample_states(n):
    u = mx.random.uniform(shape=(n, 6))
    dist = 0.3 + 1.2 * u[:, 0]
    speed = 20 + 30 * u[:, 1]
    grade = -3 + 6 * u[:, 2]
    slack = -20 + 60 * u[:, 3]
    load = 0.2 + 0.8 * u[:, 4]
    wet = (u[:, 5] < 0.3).astype(mx.float32)
    raw = mx.stack([dist, speed, grade, slack, load, wet], axis=1)
    return raw


def normalise(raw):
    lo = mx.array([0.3, 20.0, -3.0, -20.0, 0.2, 0.0])
    hi = mx.array([1.5, 50.0, 3.0, 40.0, 1.0, 1.0])
    return 2 * (raw - lo) / (hi - lo) - 1


def expected_payoff(raw):
    dist, speed, grade, slack, load, wet = [raw[:, i] for i in range(6)]
    late = lambda extra_s: -0.04 * nn.relu(extra_s - slack)       # penalty per late second
    power = -(0.9 + 0.25 * grade + 0.6 * load) + late(0.0)
    coast = -(0.35 + 0.05 * grade + 0.2 * load) + late(25.0 - 0.3 * speed + 6 * dist)
    regen = -(0.55 - 0.08 * grade + 0.3 * load + 0.6 * wet) + late(12.0)
    return mx.stack([power, coast, regen], axis=1)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.h1 = nn.Linear(6, 48)
        self.h2 = nn.Linear(48, 48)
        self.pi = nn.Linear(48, N_ACT)

    def __call__(self, x):
        return self.pi(mx.tanh(self.h2(mx.tanh(self.h1(x)))))


policy = Policy()
mx.eval(policy.parameters())
warm = optim.linear_schedule(0.0, 1e-3, 60)
sched = optim.join_schedules([warm, lambda s: mx.array(1e-3)], [60])
opt = optim.Adam(learning_rate=sched)


def pg_loss(model, x, acts, adv, beta):
    logp = nn.log_softmax(model(x), axis=-1)
    chosen = mx.take_along_axis(logp, acts[:, None], axis=1).squeeze(1)
    ent = -mx.sum(mx.exp(logp) * logp, axis=-1).mean()
    return -(adv * chosen).mean() - beta * ent, ent


grad_fn = nn.value_and_grad(policy, pg_loss)
state = [policy.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(baseline, beta):
    raw = sample_states(BATCH)
    x = normalise(raw)
    acts = mx.random.categorical(policy(x))
    mu = expected_payoff(raw)
    reward = mx.take_along_axis(mu, acts[:, None], axis=1).squeeze(1) + 0.35 * mx.random.normal((BATCH,))
    adv = reward - baseline
    (loss, ent), grads = grad_fn(policy, x, acts, adv, beta)
    opt.update(policy, grads)
    return loss, ent, reward.mean()


# fixed evaluation fleet of 2000 approaches
eval_raw = sample_states(2000)
eval_x = normalise(eval_raw)
eval_mu = expected_payoff(eval_raw)
oracle = eval_mu.max(axis=1).mean().item()
uniform = eval_mu.mean(axis=1).mean().item()
always = [eval_mu[:, a].mean().item() for a in range(N_ACT)]
best_fixed = max(always)


def greedy_value():
    a = mx.argmax(policy(eval_x), axis=1)
    return mx.take_along_axis(eval_mu, a[:, None], axis=1).mean().item(), mx.mean(a[:, None] == mx.arange(N_ACT), axis=0)


p0 = {k: mx.array(v) for k, v in policy.h1.parameters().items()}
print(f"references on 2000 approaches (payoff, higher is better): oracle {oracle:+.3f}  "
      f"random {uniform:+.3f}  always-{ACTS[always.index(best_fixed)]} {best_fixed:+.3f}")
baseline, t0 = 0.0, time.time()
for u in range(1, UPDATES + 1):
    beta = 0.02 if u < 350 else 0.005
    loss, ent, rbar = train_step(mx.array(baseline), mx.array(beta))
    mx.eval(policy.parameters(), opt.state, loss, ent, rbar)
    if u == 1:
        moved = max(mx.abs(policy.h1.weight - p0["weight"]).max().item(), 0.0)
        print(f"step 1 used lr {sched(mx.array(0)).item():.1e}; h1 max|dW| after it = {moved:.2e}")
    baseline = 0.9 * baseline + 0.1 * rbar.item()
    if u in (1, 10, 25) or u % 50 == 0 or u == UPDATES:
        g, mix = greedy_value()
        frac = u / UPDATES
        bar = "#" * int(20 * frac) + "-" * (20 - int(20 * frac))
        sys.stdout.write(
            f"train {u:4d}/{UPDATES} [{bar}] Rbar={rbar.item():+.3f} base={baseline:+.3f} "
            f"greedy={g:+.3f} regret={oracle - g:.3f} H={ent.item():.3f} lr={opt.learning_rate.item():.1e} "
            f"mix={'/'.join(f'{100 * m:.0f}' for m in mix.tolist())}% "
            f"{u / (time.time() - t0):.0f}it/s\n")
g, _ = greedy_value()
print(f"final greedy payoff {g:+.3f} vs oracle {oracle:+.3f} / best fixed {best_fixed:+.3f} / random {uniform:+.3f}")
