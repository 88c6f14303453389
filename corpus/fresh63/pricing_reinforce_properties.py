# Contextual dynamic pricing learned by REINFORCE with a Gaussian price policy.
# Pure-function parameters in a dict, hand-written SGD with momentum; silent while
# training, then the whole report is a Java .properties file.
import time
import numpy as np
import mlx.core as mx
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
mx.random.seed(11)
D = 4  # customer features: loyalty, income, urgency, basket size


def demand_prob(feat, price):
    # hidden willingness to pay: wtp = 6 + 2*income + 1.5*urgency - 0.5*loyalty
    wtp = 6.0 + 2.0 * feat[:, 1] + 1.5 * feat[:, 2] - 0.5 * feat[:, 0]
    return 1.0 / (1.0 + np.exp(np.clip(-(wtp - price) / 0.7, -60, 60)))


def oracle_revenue(feat):
    grid = np.linspace(0.5, 15, 300)
    rev = grid[None, :] * demand_prob(np.repeat(feat, 1, 0)[:, None, :].repeat(300, 1).reshape(-1, D), np.tile(grid, len(feat))).reshape(len(feat), 300)
    return rev.max(axis=1).mean()


params = {
    "w1": mx.random.normal((D, 32)) * (1.0 / np.sqrt(D)),
    "b1": mx.zeros((32,)),
    "w2": mx.random.normal((32, 1)) * 0.1,
    "b2": mx.array([1.5]),       # log-price bias: start near exp(1.5) ~ 4.5
    "log_sigma": mx.array([-0.7]),
}


def policy_mean(p, x):
    h = mx.tanh(x @ p["w1"] + p["b1"])
    return (h @ p["w2"] + p["b2"])[:, 0]  # mean log-price


def surrogate(p, x, logp_price, adv):
    mu = policy_mean(p, x)
    sig = mx.exp(p["log_sigma"])
    logprob = -0.5 * ((logp_price - mu) / sig) ** 2 - p["log_sigma"]
    return -(logprob * adv).mean() - 0.002 * p["log_sigma"].sum()


grad_fn = mx.grad(surrogate)
vel = tree_map(mx.zeros_like, params)
lr, beta = 0.004, 0.9
history = []
zero_leaves = None
t0 = time.time()
B = 256
for it in range(1, 3001):
    feat = rng.normal(size=(B, D)).astype(np.float32)
    x = mx.array(feat)
    mu = policy_mean(params, x)
    sig = mx.exp(params["log_sigma"])
    logp_price = mu + sig * mx.random.normal(mu.shape)
    mx.eval(logp_price)
    price = np.exp(np.array(logp_price))
    bought = rng.random(B) < demand_prob(feat, price)
    reward = price * bought
    adv = reward - reward.mean()  # batch-mean baseline
    adv = adv / (adv.std() + 1e-6)
    g = grad_fn(params, x, logp_price, mx.array(adv.astype(np.float32)))
    if zero_leaves is None:
        zero_leaves = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
    vel = tree_map(lambda v, gg: beta * v + gg, vel, g)
    params = tree_map(lambda p, v: p - lr * v, params, vel)
    mx.eval(params, vel)
    history.append(float(reward.mean()))

# greedy evaluation on fresh customers
feat = rng.normal(size=(4000, D)).astype(np.float32)
price = np.exp(np.array(policy_mean(params, mx.array(feat))))
greedy_rev = float((price * demand_prob(feat, price)).mean())
flat_best = max(float((p * demand_prob(feat, np.full(len(feat), p))).mean()) for p in np.linspace(0.5, 15, 300))
oracle = oracle_revenue(feat[:800])

print("# pricing-policy training report (REINFORCE, Gaussian log-price policy)")
print(f"# generated after {time.time() - t0:.1f} s")
print(f"run.iterations=3000")
print(f"run.batch_size={B}")
print(f"grad.leaves={len(tree_flatten(params))}")
print(f"grad.zero_leaves={','.join(zero_leaves) if zero_leaves else 'none'}")
for k in (1, 10, 100, 500, 1000, 2000, 3000):
    w = history[max(0, k - 50):k]
    print(f"reward.sampled.window50.iter{k}={np.mean(w):.4f}")
print(f"policy.sigma={float(mx.exp(params['log_sigma'])[0]):.4f}")
print(f"eval.greedy_revenue={greedy_rev:.4f}")
print(f"eval.best_flat_price_revenue={flat_best:.4f}")
print(f"eval.oracle_revenue={oracle:.4f}")
print(f"eval.corr_price_income={np.corrcoef(price, feat[:, 1])[0, 1]:.3f}")
