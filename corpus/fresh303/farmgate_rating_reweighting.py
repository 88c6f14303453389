"""Farm-gate stall ratings: customers mostly rate the produce they loved, so the
observed 1-5 ratings are missing-not-at-random. Two factorisation models are fit
one after the other from fresh weights: [plain] on the raw observed ratings and
[ipw] with inverse-propensity weights estimated from a small uniformly-asked
survey. Both are scored on a separate uniformly-sampled survey of true ratings."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(3031)
N_C, N_P, K = 300, 150, 3

cu = rng.normal(0, 1, (N_C, K))
pv = rng.normal(0, 1, (N_P, K))
raw = 3.0 + 0.8 * cu @ pv.T + rng.normal(0, 0.5, (N_C, 1)) + rng.normal(0, 0.5, (1, N_P))
true_r = np.clip(np.rint(raw + rng.normal(0, 0.4, raw.shape)), 1, 5).astype(np.int64)

# rating-dependent chance that a customer bothers to leave a rating
p_obs_by_r = np.array([0.0, 0.06, 0.08, 0.14, 0.30, 0.55])
obs = rng.random(true_r.shape) < p_obs_by_r[true_r]
cu_idx, pv_idx = np.nonzero(obs)
r_obs = true_r[cu_idx, pv_idx].astype(np.float32)

# uniformly-asked surveys: a small calibration one and a larger test one
flat = rng.permutation(N_C * N_P)
cal = flat[:2500]
tst = flat[2500:10500]
r_cal = true_r.ravel()[cal]
t_c, t_p = np.unravel_index(tst, true_r.shape)
r_tst = true_r.ravel()[tst].astype(np.float32)

# naive-Bayes propensity: P(O=1|r) = P(r|O=1) P(O=1) / P(r)
p_o = obs.mean()
p_r_given_o = np.array([np.mean(r_obs == r) for r in range(1, 6)])
p_r = np.array([np.mean(r_cal == r) for r in range(1, 6)])
prop_hat = p_r_given_o * p_o / np.maximum(p_r, 1e-6)
w_obs = (1.0 / prop_hat[r_obs.astype(np.int64) - 1]).astype(np.float32)
w_obs = w_obs / w_obs.mean()


class Factorise(nn.Module):
    def __init__(self, dim=6):
        super().__init__()
        self.cust = nn.Embedding(N_C, dim)
        self.prod = nn.Embedding(N_P, dim)
        self.cb = nn.Embedding(N_C, 1)
        self.pb = nn.Embedding(N_P, 1)
        self.cust.weight = self.cust.weight * 0.1
        self.prod.weight = self.prod.weight * 0.1
        self.cb.weight = mx.zeros_like(self.cb.weight)
        self.pb.weight = mx.zeros_like(self.pb.weight)
        self.mu = mx.array([float(r_obs.mean())])

    def __call__(self, c, p):
        dot = mx.sum(self.cust(c) * self.prod(p), axis=-1)
        return self.mu + dot + self.cb(c).squeeze(-1) + self.pb(p).squeeze(-1)


def loss_fn(model, c, p, r, w, lam=0.05):
    err = model(c, p) - r
    reg = mx.mean(mx.sum(model.cust(c) ** 2, -1) + mx.sum(model.prod(p) ** 2, -1))
    return mx.sum(w * err * err) / mx.sum(w) + lam * reg


Tc, Tp, Tr = mx.array(t_c), mx.array(t_p), mx.array(r_tst)


def survey(model):
    pred = model(Tc, Tp)
    mse = float(mx.mean((pred - Tr) ** 2))
    bias = float(mx.mean(pred) - mx.mean(Tr))
    return mse, bias


print(f"stall: {N_C} customers x {N_P} products, {len(r_obs)} left ratings "
      f"(mean {r_obs.mean():.2f}); uniform survey mean {r_tst.mean():.2f} on {len(r_tst)} asks")
print("estimated P(rating left | stars): " + "  ".join(f"{s}*={v:.3f}" for s, v in zip(range(1, 6), prop_hat)))
print(f"survey mse of a constant guess at the left-ratings mean: {np.mean((r_tst - r_obs.mean()) ** 2):.3f}")

EPOCHS, BATCH = 24, 256
n = len(r_obs)
results = {}
t0 = time.perf_counter()
for tag, weights in (("plain", np.ones_like(w_obs)), ("ipw", w_obs)):
    mx.random.seed(7)
    model = Factorise()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=optim.step_decay(0.02, 0.5, 8 * (n // BATCH)))
    vg = nn.value_and_grad(model, loss_fn)
    mse0, bias0 = survey(model)
    print(f"[{tag}] start          survey_mse {mse0:.3f}  survey_bias {bias0:+.3f}")
    for ep in range(1, EPOCHS + 1):
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - BATCH + 1, BATCH):
            j = perm[i:i + BATCH]
            loss, g = vg(model, mx.array(cu_idx[j]), mx.array(pv_idx[j]), mx.array(r_obs[j]), mx.array(weights[j]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += float(loss)
            cnt += 1
        if ep % 4 == 0:
            mse, bias = survey(model)
            print(f"[{tag}] epoch {ep:2d}  train_obj {tot / cnt:.3f}  survey_mse {mse:.3f}  "
                  f"survey_bias {bias:+.3f}  t {time.perf_counter() - t0:.1f}s", flush=True)
    results[tag] = survey(model)

print(f"summary: plain survey_mse {results['plain'][0]:.3f} (bias {results['plain'][1]:+.3f}) | "
      f"ipw survey_mse {results['ipw'][0]:.3f} (bias {results['ipw'][1]:+.3f})")
