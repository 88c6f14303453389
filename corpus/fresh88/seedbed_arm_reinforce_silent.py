# Greenhouse seed-bed: pick one of 5 watering regimes per tray from 6 sensor readings
# (a contextual bandit).  Policy-gradient (REINFORCE with a running-mean baseline),
# plain SGD written by hand over tree_flatten / tree_unflatten.  Silent while it
# trains; the history is printed as a summary at the end.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(21)
D, K, B, STEPS, LR = 6, 5, 128, 4000, 0.05
W_true = rng.normal(0, 1, (D, K)).astype(np.float32)

def contexts(n):
    return rng.normal(0, 1, (n, D)).astype(np.float32)

def mean_reward(x):                      # germination score for each regime, in [0, 1]
    z = x @ W_true + 0.5 * np.sin(2 * x[:, :1])
    return 1 / (1 + np.exp(-z))

def pull(x, a):                          # noisy Bernoulli germination outcome
    p = mean_reward(x)[np.arange(len(a)), a]
    return (rng.uniform(size=len(a)) < p).astype(np.float32)

class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.h = nn.Linear(D, 96)
        self.logits = nn.Linear(96, K)
    def __call__(self, x):
        return self.logits(nn.tanh(self.h(x)))

def surrogate(params, model, x, a, adv):
    model.update(params)
    logp = nn.log_softmax(model(x), axis=-1)
    chosen = mx.take_along_axis(logp, a[:, None], axis=1).squeeze(1)
    return -(chosen * adv).mean()

Xtest = contexts(4000)
best_test = mean_reward(Xtest).max(1).mean()

def greedy_regret(model):
    a = np.array(mx.argmax(model(mx.array(Xtest)), axis=1))
    return float(best_test - mean_reward(Xtest)[np.arange(len(a)), a].mean())

mx.random.seed(5)
policy = Policy()
grad_fn = mx.value_and_grad(surrogate)
baseline, history, first_grads = 0.0, [], None
start_regret = greedy_regret(policy)
t0 = time.time()
for step in range(1, STEPS + 1):
    x = contexts(B)
    logits = policy(mx.array(x))
    a = mx.random.categorical(logits)
    a_np = np.array(a)
    r = pull(x, a_np)
    adv = mx.array(r - baseline)
    baseline = 0.95 * baseline + 0.05 * float(r.mean()) if step > 1 else float(r.mean())
    params = policy.trainable_parameters()
    loss, grads = grad_fn(params, policy, mx.array(x), a, adv)
    if first_grads is None:
        first_grads = [(k, float(mx.abs(v).max())) for k, v in tree_flatten(grads)]
    flat_p = dict(tree_flatten(params))
    new = [(k, flat_p[k] - LR * g) for k, g in tree_flatten(grads)]
    policy.update(tree_unflatten(new))
    mx.eval(policy.parameters(), loss)
    if step % 400 == 0 or step == 1:
        history.append((step, float(r.mean()), loss.item(), baseline, greedy_regret(policy)))
elapsed = time.time() - t0

print("seed-bed regime policy -- REINFORCE, hand-written SGD lr=%.2f, %d steps of %d trays" % (LR, STEPS, B))
print("oracle mean germination %.3f; untrained greedy regret %.4f" % (best_test, start_regret))
print("first-step gradient leaves (%d): %s" % (len(first_grads),
      ", ".join("%s max|g|=%.2e" % kv for kv in first_grads)))
print("zero-gradient leaves: %s" % [k for k, m in first_grads if m == 0.0])
print()
print("%6s %12s %14s %10s %14s" % ("step", "batch_reward", "pg_surrogate", "baseline", "greedy_regret"))
for row in history:
    print("%6d %12.3f %14.4f %10.3f %14.4f" % row)
print()
print("(regret = oracle reward minus greedy-policy reward on 4000 held-out trays; lower is better."
      " pg_surrogate is the advantage-weighted -log pi, noisy and of either sign)")
print("finished in %.1fs" % elapsed)
