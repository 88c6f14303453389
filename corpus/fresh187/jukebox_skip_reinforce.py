# Jukebox song picker: a contextual-bandit policy learns which of 6 songs keeps
# a bar's patrons from skipping, trained with REINFORCE + running baseline.
import math
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
mx.random.seed(7)
N_SONG, N_FEAT = 6, 5
# hidden "taste" law: context -> per-song no-skip probability
W_true = rng.normal(0, 1.4, size=(N_FEAT, N_SONG)).astype(np.float32)
b_true = rng.normal(-0.2, 0.5, size=(N_SONG,)).astype(np.float32)

def contexts(n):
    # hour (scaled), crowd size, noise level, avg age (scaled), rain flag
    x = rng.normal(0, 1, size=(n, N_FEAT)).astype(np.float32)
    x[:, 4] = (rng.random(n) < 0.3).astype(np.float32)
    return x

def stay_prob(x):
    z = x @ W_true + b_true
    return 1.0 / (1.0 + np.exp(-z))

class Picker(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 32)
        self.l2 = nn.Linear(32, N_SONG)
    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(x)))

policy = Picker()
mx.eval(policy.parameters())
STEPS, BATCH = 1500, 192
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 60),
                              optim.cosine_decay(3e-3, STEPS - 60, 3e-4)], [60])
opt = optim.RMSprop(learning_rate=sched)

def pg_loss(model, x, a, adv):
    logp = nn.log_softmax(model(x), axis=-1)
    lp_a = mx.take_along_axis(logp, a[:, None], axis=-1).squeeze(-1)
    ent = -(mx.exp(logp) * logp).sum(-1).mean()
    return -(lp_a * adv).mean() - 0.01 * ent

grad_fn = nn.value_and_grad(policy, pg_loss)

# references: random policy and oracle on a fixed evaluation bar-night
x_ev = contexts(4000)
p_ev = stay_prob(x_ev)
oracle = p_ev.max(1).mean()
randref = p_ev.mean()

def greedy_stay():
    a = np.array(mx.argmax(policy(mx.array(x_ev)), axis=-1))
    return p_ev[np.arange(len(a)), a].mean()

baseline = 0.5
t0 = time.time()
bar_w = 24
for step in range(1, STEPS + 1):
    x = contexts(BATCH)
    logits = policy(mx.array(x))
    a = mx.random.categorical(logits)
    a_np = np.array(a)
    r = (rng.random(BATCH) < stay_prob(x)[np.arange(BATCH), a_np]).astype(np.float32)
    adv = mx.array(r - baseline)
    baseline = 0.95 * baseline + 0.05 * float(r.mean())
    loss, grads = grad_fn(policy, mx.array(x), a, adv)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss)
    if step == 1:
        gn = {k: float(mx.abs(v).sum()) for k, v in
              __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(grads)}
        print("grad |sum| per tensor:", ", ".join(f"{k}={v:.3g}" for k, v in gn.items()))
    if step % 100 == 0 or step == 1:
        done = int(bar_w * step / STEPS)
        el = time.time() - t0
        print(f"train {100*step/STEPS:3.0f}%|{'#'*done}{' '*(bar_w-done)}| {step}/{STEPS} "
              f"[{el:4.1f}s, {step/el:5.1f}it/s, lr={float(opt.learning_rate):.2e}, "
              f"batch_stay={r.mean()*100:.1f}%, greedy_stay={greedy_stay()*100:.1f}% "
              f"(random {randref*100:.1f}%, oracle {oracle*100:.1f}%)]")

final = greedy_stay()
print(f"final greedy stay rate {final*100:.2f}% | random {randref*100:.2f}% | oracle {oracle*100:.2f}% "
      f"| regret {100*(oracle-final):.2f} pts")
