"""Hot-air balloon altitude hold: a small burner/vent policy searched with the
cross-entropy method (CEM) over its flat weight vector. Rollouts of the whole
population run batched in MLX. Logged as logfmt lines."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(7)
rng = np.random.default_rng(7)

HIDDEN = 16
STEPS = 60
DT = 0.5


class BurnerPolicy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(3, HIDDEN)
        self.l2 = nn.Linear(HIDDEN, 1)

    def __call__(self, s):
        return mx.tanh(self.l2(mx.tanh(self.l1(s))))


policy = BurnerPolicy()
shapes = [(k, v.shape) for k, v in tree_flatten(policy.parameters())]
sizes = [int(np.prod(s)) for _, s in shapes]
D = sum(sizes)


def unpack(theta):  # theta: (P, D) -> list of batched weights
    out, i = {}, 0
    for (k, s), n in zip(shapes, sizes):
        out[k] = theta[:, i:i + n].reshape((theta.shape[0],) + s)
        i += n
    return out


def rollout(theta, h0, v0, gusts):
    """theta (P,D); h0,v0 (E,); gusts (STEPS,E). Returns mean return per candidate (P,)."""
    w = unpack(theta)
    P, E = theta.shape[0], h0.shape[0]
    h = mx.broadcast_to(h0, (P, E))
    v = mx.broadcast_to(v0, (P, E))
    heat = mx.zeros((P, E))
    ret = mx.zeros((P, E))
    for t in range(STEPS):
        s = mx.stack([h / 50.0, v / 3.0, heat], axis=-1)            # (P,E,3)
        z = mx.tanh(s @ w["l1.weight"].transpose(0, 2, 1) + w["l1.bias"][:, None, :])
        a = mx.tanh(z @ w["l2.weight"].transpose(0, 2, 1) + w["l2.bias"][:, None, :])[..., 0]
        heat = 0.85 * heat + 0.15 * a                                 # envelope heat lags the burner
        v = 0.9 * v + DT * (2.0 * heat + gusts[t])
        h = h + DT * v
        ret = ret - (mx.abs(h) / 10.0 + 0.05 * a * a)
    return ret.mean(axis=1)


def episodes(n, seed):
    r = np.random.default_rng(seed)
    h0 = r.uniform(-60, 60, n).astype(np.float32)
    v0 = r.normal(0, 1.0, n).astype(np.float32)
    g = r.normal(0, 0.6, (STEPS, n)).astype(np.float32)
    return mx.array(h0), mx.array(v0), mx.array(g)


flat0 = mx.concatenate([v.reshape(-1) for _, v in tree_flatten(policy.parameters())])
eval_h, eval_v, eval_g = episodes(200, 12345)
zero_ret = rollout(mx.zeros((1, D)), eval_h, eval_v, eval_g).item()
init_ret = rollout(flat0[None], eval_h, eval_v, eval_g).item()
print(f"event=setup dims={D} population=64 elites=8 steps_per_episode={STEPS} "
      f"eval_episodes=200 ret_burner_off={zero_ret:.2f} ret_initial={init_ret:.2f}")

POP, ELITE, GENS = 64, 8, 60
mean = flat0
std = mx.full((D,), 0.5)
t0 = time.time()
best_eval = -1e9
for g in range(1, GENS + 1):
    h0, v0, gu = episodes(6, 1000 + g)                 # only 6 noisy episodes per candidate
    cand = mean[None] + std[None] * mx.random.normal((POP, D))
    fit = rollout(cand, h0, v0, gu)
    order = mx.argsort(-fit)
    elite = cand[order[:ELITE]]
    mean = elite.mean(axis=0)
    extra = 0.2 * max(0.0, 1.0 - g / 40.0) + 0.01     # decaying extra noise keeps the search open
    std = mx.sqrt(elite.var(axis=0) + extra * extra)
    mx.eval(mean, std, fit)
    if g in (1, 2, 3) or g % 6 == 0:
        ev = rollout(mean[None], eval_h, eval_v, eval_g).item()
        best_eval = max(best_eval, ev)
        f = np.array(fit)
        print(f"event=gen gen={g} pop_ret_mean={f.mean():.2f} pop_ret_std={f.std():.2f} "
              f"elite_ret={np.sort(f)[-ELITE:].mean():.2f} mean_policy_eval_ret={ev:.2f} "
              f"sigma={std.mean().item():.3f} secs={time.time() - t0:.1f}")

policy.update(tree_unflatten([(k, v[0]) for k, v in unpack(mean[None]).items()]))
final = rollout(mx.concatenate([v.reshape(-1) for _, v in tree_flatten(policy.parameters())])[None],
                eval_h, eval_v, eval_g).item()
s = mx.array([[40 / 50.0, 0.0, 0.0], [-40 / 50.0, 0.0, 0.0]])
acts = policy(s)[:, 0].tolist()
print(f"event=done final_eval_ret={final:.2f} ret_burner_off={zero_ret:.2f} best_eval_ret={best_eval:.2f} "
      f"action_40m_above={acts[0]:+.2f} action_40m_below={acts[1]:+.2f} secs={time.time() - t0:.1f}")
