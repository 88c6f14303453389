"""Mushroom foray checklists: latent-class model of 14 yes/no field traits.

Each record is one specimen ticked on a club checklist (gills free, ring present,
bruises blue, ...). We fit a mixture of independent Bernoullis by gradient ascent
on the marginal log-likelihood and grow the number of classes by splitting the
heaviest class: K = 2 -> 3 -> 4, a fresh optimizer for each stage.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

TRAITS = ["gills_free", "ring", "volva", "bruise_blue", "latex", "pores",
          "cap_slimy", "stem_hollow", "smell_anise", "spore_white", "on_wood",
          "cap_scaly", "taste_bitter", "ridges"]
D = len(TRAITS)
rng = np.random.default_rng(7)

# four hidden groups (amanita-like, bolete-like, milkcap-like, bracket/wood-like)
true_w = np.array([0.35, 0.30, 0.20, 0.15])
base = np.full((4, D), 0.12)
base[0, [0, 1, 2, 9, 11]] = 0.88
base[1, [3, 5, 7]] = 0.85
base[2, [4, 12, 9, 6]] = 0.82
base[3, [10, 13, 7, 12]] = 0.86
true_p = np.clip(base + rng.uniform(-0.05, 0.05, base.shape), 0.03, 0.97)


def sample(n):
    z = rng.choice(4, size=n, p=true_w)
    x = (rng.random((n, D)) < true_p[z]).astype(np.float32)
    return x, z


x_tr, z_tr = sample(6000)
x_va, z_va = sample(2000)
X_tr, X_va = mx.array(x_tr), mx.array(x_va)


class LatentClass(nn.Module):
    def __init__(self, mix_logits, item_logits):
        super().__init__()
        self.mix_logit = mx.array(mix_logits)        # (K,)
        self.trait_logit = mx.array(item_logits)     # (K, D)

    def log_joint(self, x):
        # log pi_k + sum_d log Bern(x_d | p_kd), shape (N, K)
        lp = nn.log_sigmoid(self.trait_logit)
        lq = nn.log_sigmoid(-self.trait_logit)
        ll = x @ lp.T + (1.0 - x) @ lq.T
        return nn.log_softmax(self.mix_logit) + ll

    def __call__(self, x):
        return mx.logsumexp(self.log_joint(x), axis=1)


def mean_loglik(model, x):
    return model(x).mean()


def ari(a, b):
    # adjusted Rand index from the contingency table
    ca = np.unique(a, return_inverse=True)[1]
    cb = np.unique(b, return_inverse=True)[1]
    tab = np.zeros((ca.max() + 1, cb.max() + 1))
    np.add.at(tab, (ca, cb), 1)
    comb = lambda v: (v * (v - 1) / 2.0).sum()
    s_ij = comb(tab)
    s_a, s_b = comb(tab.sum(1)), comb(tab.sum(0))
    exp = s_a * s_b / comb(np.array([len(a)]))
    return (s_ij - exp) / (0.5 * (s_a + s_b) - exp)


def bic(ll_sum, k, n):
    n_par = (k - 1) + k * D
    return -2.0 * ll_sum + n_par * math.log(n)


# independence model (K = 1) as the reference everyone compares against
p1 = x_tr.mean(0).clip(1e-4, 1 - 1e-4)
ll_indep_tr = float((x_tr * np.log(p1) + (1 - x_tr) * np.log(1 - p1)).sum(1).mean())
ll_indep_va = float((x_va * np.log(p1) + (1 - x_va) * np.log(1 - p1)).sum(1).mean())
print(f"foray records: train {len(x_tr)}  valid {len(x_va)}  traits {D}")
print(f"K=1 independence: loglik/record train {ll_indep_tr:.4f}  valid {ll_indep_va:.4f}"
      f"  BIC {bic(ll_indep_tr * len(x_tr), 1, len(x_tr)):.0f}")

# stage 1 start: K = 2 from a perturbed independence fit
logit1 = np.log(p1 / (1 - p1))
init_items = logit1[None, :] + rng.normal(0, 0.3, (2, D))
model = LatentClass(np.zeros(2, np.float32), init_items.astype(np.float32))

STEPS = 450
WARM = 40
PEAK = 0.08
t0 = time.time()
loss_and_grad = nn.value_and_grad(model, lambda m, x: -mean_loglik(m, x))

for stage, K in enumerate([2, 3, 4], start=1):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM),
         optim.cosine_decay(PEAK, STEPS - WARM, 0.005)], [WARM])
    opt = optim.Adam(learning_rate=sched)
    print(f"== stage {stage}: K={K} classes, lr warm-up from 0 over {WARM} steps ==")
    for step in range(1, STEPS + 1):
        nll, grads = loss_and_grad(model, X_tr)
        if stage == 1 and step == 1:
            leaves = [g for _, g in tree_flatten(grads)]
            nz = sum(int(mx.any(g != 0).item()) for g in leaves)
            print(f"gradient check: {nz}/{len(leaves)} leaves non-zero")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, nll)
        if step in (1, 25) or step % 75 == 0:
            ll_va = mean_loglik(model, X_va).item()
            lr = float(opt.learning_rate.item())
            print(f"  K={K} step {step:3d}  lr {lr:.4f}  loglik/rec train {-nll.item():.4f}"
                  f"  valid {ll_va:.4f}  (indep {ll_indep_va:.4f})  {time.time() - t0:.1f}s")
    ll_sum = -loss_and_grad(model, X_tr)[0].item() * len(x_tr)
    w = np.array(mx.softmax(model.mix_logit))
    resp = np.array(model.log_joint(X_va)).argmax(1)
    print(f"  end of stage {stage}: BIC {bic(ll_sum, K, len(x_tr)):.0f}"
          f"  weights {[round(float(v), 3) for v in w]}  ARI(valid) {ari(resp, z_va):.3f}")

    if K < 4:
        # split the heaviest class into two halves, nudged apart on its least certain traits
        j = int(w.argmax())
        items = np.array(model.trait_logit)
        mix = np.array(model.mix_logit)
        nudge = rng.normal(0, 0.6, D) * (1.0 - np.abs(np.tanh(items[j] / 2)))
        new_items = np.concatenate([items, (items[j] - nudge)[None]], 0)
        new_items[j] = items[j] + nudge
        new_mix = np.concatenate([mix, [mix[j]]])
        new_mix[j] -= math.log(2.0)
        new_mix[-1] -= math.log(2.0)
        model = LatentClass(new_mix.astype(np.float32), new_items.astype(np.float32))
        loss_and_grad = nn.value_and_grad(model, lambda m, x: -mean_loglik(m, x))
        print(f"  split class {j} -> classes {j} and {K}; loglik/rec right after split "
              f"{mean_loglik(model, X_tr).item():.4f}")

p_hat = np.array(mx.sigmoid(model.trait_logit))
order = np.argsort(-np.array(mx.softmax(model.mix_logit)))
print("learned trait profile (share of 'yes', classes by weight):")
for k in order:
    top = np.argsort(-p_hat[k])[:4]
    print(f"  class {k}  weight {float(mx.softmax(model.mix_logit)[k].item()):.3f}  "
          + ", ".join(f"{TRAITS[t]} {p_hat[k, t]:.2f}" for t in top))
print(f"done in {time.time() - t0:.1f}s")
