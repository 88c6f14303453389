# Sled-dog mushing: learn which of 4 lead dogs to put up front for a trail leg.
# Contextual bandit trained with REINFORCE + running-mean baseline.
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(11)
mx.random.seed(11)

DOGS = ["Juno", "Koda", "Sitka", "Tok"]
N_FEAT = 6  # snow depth, wind, grade, temp, trail width, night flag


def make_legs(n):
    x = mx.random.normal((n, N_FEAT))
    return x


# hidden "true" pace (km/h) each dog makes on a leg, made-up law
W_TRUE = mx.array([
    [1.2, -0.4, 0.3, 0.0, 0.5, -0.6],
    [-0.8, 1.0, 0.2, 0.4, -0.3, 0.2],
    [0.1, 0.2, -1.1, -0.5, 0.6, 0.9],
    [0.3, -0.9, 0.5, 1.0, 0.0, -0.2],
])


def true_pace(x):
    return 14.0 + 0.6 * mx.tanh(x @ W_TRUE.T)


class LeadPicker(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 32)
        self.l2 = nn.Linear(32, len(DOGS))

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x)))


policy = LeadPicker()
mx.eval(policy.parameters())

WARM = 40
STEPS = 2000


def lr_at(step):
    # linear warmup from exactly 0, then cosine down to 10%
    if step < WARM:
        return 1e-3 * step / WARM
    t = (step - WARM) / (STEPS - WARM)
    return 1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


opt = optim.Adam(learning_rate=0.0)


def pg_loss(model, x, actions, adv):
    logp = nn.log_softmax(model(x), axis=-1)
    chosen = mx.take_along_axis(logp, actions[:, None], axis=-1).squeeze(-1)
    ent = -(mx.exp(logp) * logp).sum(-1).mean()
    return -(chosen * adv).mean() - 0.01 * ent


grad_fn = nn.value_and_grad(policy, pg_loss)

# check every parameter gets a gradient
x0 = make_legs(64)
a0 = mx.random.randint(0, 4, (64,))
_, g0 = grad_fn(policy, x0, a0, mx.random.normal((64,)))
from mlx.utils import tree_flatten
for k, v in tree_flatten(g0):
    assert mx.abs(v).sum().item() > 0, k

baseline = 0.0
BATCH = 256
hist = []
t0 = time.time()
eval_x = make_legs(2000)
eval_pace = true_pace(eval_x)
oracle = eval_pace.max(-1).mean().item()
rand_ref = eval_pace.mean().item()
print(f"oracle pace {oracle:.2f} km/h | random-lead pace {rand_ref:.2f} km/h")

for step in range(STEPS + 1):
    opt.learning_rate = lr_at(step)
    x = make_legs(BATCH)
    logits = policy(x)
    actions = mx.random.categorical(logits)
    pace = mx.take_along_axis(true_pace(x), actions[:, None], axis=-1).squeeze(-1)
    pace = pace + 1.2 * mx.random.normal(pace.shape)  # noisy stopwatch
    mean_r = pace.mean().item()
    adv = pace - baseline
    baseline = 0.9 * baseline + 0.1 * mean_r if step > 0 else mean_r
    loss, grads = grad_fn(policy, x, actions, adv)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss)
    hist.append(mean_r)

    if step % 200 == 0:
        greedy = mx.argmax(policy(eval_x), axis=-1)
        g_pace = mx.take_along_axis(eval_pace, greedy[:, None], axis=-1).mean().item()
        best = mx.argmax(eval_pace, axis=-1)
        hit = (greedy == best).astype(mx.float32).mean().item()
        frac = step / STEPS
        bar = "#" * int(frac * 20) + "." * (20 - int(frac * 20))
        el = time.time() - t0
        print(f"legs {step:4d}/{STEPS} |{bar}| {100*frac:5.1f}% [{el:5.1f}s, lr={lr_at(step):.1e}] "
              f"sampled={sum(hist[-200:])/len(hist[-200:]):.2f}km/h greedy={g_pace:.2f}km/h "
              f"right_lead={100*hit:.1f}% ({100*(g_pace-rand_ref)/(oracle-rand_ref):.0f}% of gap)")

print("done")
