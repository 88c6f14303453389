# Fly fishing: learn which of 6 flies to tie on, given the river conditions,
# from catch / no-catch outcomes only (contextual bandit, REINFORCE with an
# EMA reward baseline and an entropy bonus). Rewards are Bernoulli, so the
# per-session catch rate is noisy by nature.
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

FLIES = ["adams", "elk_caddis", "pheasant_tail", "woolly_bugger", "blue_wing_olive", "hopper"]
N_CTX = 9
mx.random.seed(2024)

# ---- the river (hidden from the angler) -------------------------------------
# context: water temp (z), light (z), wind (z), season sin, season cos,
# hatch one-hot (mayfly, caddis, terrestrial, none)
W_true = mx.random.normal((N_CTX, len(FLIES))) * 0.5
W_true = W_true + mx.array([
    [0.0, 0.3, -0.4, 0.2, -0.3, 0.6],
    [0.4, 0.0, -0.3, -0.5, 0.5, 0.2],
    [-0.2, 0.1, 0.3, 0.5, -0.1, 0.4],
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [1.4, -0.3, 0.2, -0.6, 1.0, -0.8],
    [-0.3, 1.5, 0.1, -0.4, -0.2, -0.3],
    [-0.6, -0.2, -0.5, 0.0, -0.7, 1.7],
    [-0.5, -0.4, 1.0, 1.1, -0.3, -0.6],
])
b_true = mx.array([-1.0, -1.1, -0.9, -1.3, -1.2, -1.4])


def sample_conditions(n):
    cont = mx.random.normal((n, 3))
    day = mx.random.uniform(0, 6.2832, (n, 1))
    hatch = mx.random.randint(0, 4, (n,))
    onehot = (hatch[:, None] == mx.arange(4)[None, :]).astype(mx.float32)
    return mx.concatenate([cont, mx.sin(day), mx.cos(day), onehot], axis=1)


def take_prob(ctx):
    return mx.sigmoid(ctx @ W_true + b_true)


# ---- the angler's policy ----------------------------------------------------
class FlyPolicy(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(N_CTX, 64)
        self.head = nn.Linear(64, len(FLIES))

    def __call__(self, x):
        return self.head(nn.tanh(self.hidden(x)))


def pg_loss(policy, ctx, action, advantage, ent_coef):
    logits = policy(ctx)
    logp_all = logits - mx.logsumexp(logits, axis=1, keepdims=True)
    logp = mx.take_along_axis(logp_all, action[:, None], axis=1)[:, 0]
    entropy = -mx.sum(mx.exp(logp_all) * logp_all, axis=1).mean()
    return -(advantage * logp).mean() - ent_coef * entropy, entropy


policy = FlyPolicy()
mx.eval(policy.parameters())
grad_fn = nn.value_and_grad(policy, pg_loss)

SESSIONS = 1500
CASTS = 512
warm = optim.linear_schedule(0.0, 3e-3, 40)          # starts at exactly 0
sched = optim.join_schedules([warm, optim.cosine_decay(3e-3, SESSIONS - 40, 3e-4)], [40])
opt = optim.RMSprop(learning_rate=sched, alpha=0.95)

eval_ctx = sample_conditions(4000)
eval_p = take_prob(eval_ctx)
oracle = mx.max(eval_p, axis=1).mean().item()
random_pick = mx.mean(eval_p).item()


def greedy_rate():
    pick = mx.argmax(policy(eval_ctx), axis=1)
    return mx.take_along_axis(eval_p, pick[:, None], axis=1).mean().item()


baseline = mx.array(0.0)
t0 = time.time()
start_rate = greedy_rate()
history = []
for s in range(1, SESSIONS + 1):
    ctx = sample_conditions(CASTS)
    logits = policy(ctx)
    action = mx.random.categorical(logits)
    p = mx.take_along_axis(take_prob(ctx), action[:, None], axis=1)[:, 0]
    caught = (mx.random.uniform(shape=p.shape) < p).astype(mx.float32)
    adv = caught - baseline
    ent_coef = 0.02 * (1 - s / SESSIONS)
    (loss, ent), grads = grad_fn(policy, ctx, action, adv, ent_coef)
    opt.update(policy, grads)
    baseline = 0.9 * baseline + 0.1 * caught.mean()
    mx.eval(policy.parameters(), opt.state, loss, baseline, caught)
    history.append(caught.mean().item())
    if s % 100 == 0 or s == 1:
        g = greedy_rate()
        frac = s / SESSIONS
        bar = "#" * int(frac * 20) + " " * (20 - int(frac * 20))
        el = time.time() - t0
        eta = el / frac - el
        sys.stdout.write(
            f"sessions {int(frac*100):3d}%|{bar}| {s}/{SESSIONS} [{el:05.1f}s<{eta:05.1f}s, "
            f"net={history[-1]*100:.1f}% greedy={g*100:.1f}% oracle={oracle*100:.1f}% "
            f"random={random_pick*100:.1f}% H={ent.item():.3f} lr={opt.learning_rate.item():.1e}]\n")

final = greedy_rate()
print()
print("fly             share_of_greedy_picks")
picks = mx.argmax(policy(eval_ctx), axis=1)
for i, f in enumerate(FLIES):
    print(f"{f:<16}{(picks == i).astype(mx.float32).mean().item()*100:6.1f} %")
print(f"greedy catch rate {start_rate*100:.1f}% -> {final*100:.1f}%  "
      f"(oracle {oracle*100:.1f}%, random fly {random_pick*100:.1f}%)  "
      f"last-100 sampled {sum(history[-100:])/100*100:.1f}%")
