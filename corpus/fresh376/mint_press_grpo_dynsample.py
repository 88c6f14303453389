# Coin mint press setting: a policy picks one of 7 strike-pressure levels for a
# blank from 5 press-room readings. Binary inspector reward (coin passes or not).
# GRPO with DAPO-style dynamic sampling: groups whose 8 strikes all pass or all
# fail carry no signal and are dropped, more blanks are drawn to refill the batch.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)
F, K, G, NPROMPT, STEPS = 5, 7, 8, 32, 150
W_true = rng.normal(size=(F, K)) * 1.4


def draw_blanks(n):
    x = rng.normal(size=(n, F)).astype(np.float32)
    return x, (x @ W_true).argmax(1)


class PressPolicy(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(F, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, K))

    def __call__(self, x):
        return self.net(x)


policy, reference = PressPolicy(), PressPolicy()
reference.update(policy.parameters())
reference.freeze()
mx.eval(policy.parameters(), reference.parameters())

hold_x, hold_y = draw_blanks(2000)
majority = float((hold_y == np.bincount(hold_y).argmax()).mean())


def greedy_pass_rate(m):
    return float((np.array(m(mx.array(hold_x)).argmax(1)) == hold_y).mean())


BETA_KL, EPS = 0.02, 0.2
opt = optim.Adam(learning_rate=optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 10), (lambda s: mx.array(3e-3))], [10]))


def grpo_loss(m, x, acts, adv, old_lp, ref_lp):
    lp_all = nn.log_softmax(m(x), axis=-1)
    lp = mx.take_along_axis(lp_all, acts[:, None], axis=-1).squeeze(-1)
    ratio = mx.exp(lp - old_lp)
    pg = -mx.minimum(ratio * adv, mx.clip(ratio, 1 - EPS, 1 + EPS) * adv)
    d = ref_lp - lp
    kl = mx.exp(d) - d - 1
    return (pg + BETA_KL * kl).mean(), kl.mean()


step_fn = nn.value_and_grad(policy, grpo_loss)
print(f"baselines: random {1/K:.3f}  majority-level {majority:.3f}  start greedy {greedy_pass_rate(policy):.3f}")
t0 = time.time()
for step in range(1, STEPS + 1):
    xs, acts, advs, rews, dropped, draws = [], [], [], [], 0, 0
    while len(xs) < NPROMPT and draws < 6:
        draws += 1
        x, y = draw_blanks(NPROMPT)
        logits = policy(mx.array(x))
        a = np.array(mx.random.categorical(mx.repeat(logits[:, None, :], G, axis=1)))  # (N, G)
        r = (a == y[:, None]).astype(np.float32)
        rews.append(r.mean())
        std = r.std(1)
        keep = std > 0
        dropped += int((~keep).sum())
        for i in np.nonzero(keep)[0][: NPROMPT - len(xs)]:
            xs.append(np.repeat(x[i:i + 1], G, 0)); acts.append(a[i])
            advs.append((r[i] - r[i].mean()) / (std[i] + 1e-4))
    if not xs:
        continue
    X, A, ADV = mx.array(np.concatenate(xs)), mx.array(np.concatenate(acts)), mx.array(np.concatenate(advs))
    old_lp = mx.stop_gradient(mx.take_along_axis(nn.log_softmax(policy(X), -1), A[:, None], -1).squeeze(-1))
    ref_lp = mx.stop_gradient(mx.take_along_axis(nn.log_softmax(reference(X), -1), A[:, None], -1).squeeze(-1))
    (loss, kl), g = step_fn(policy, X, A, ADV, old_lp, ref_lp)
    opt.update(policy, g)
    mx.eval(policy.parameters(), opt.state, loss)
    if step in (1, 10, 25, 50, 100, 150):
        print(f"step {step:3d}  loss {loss.item():+.4f}  kl {kl.item():.4f}  rollout_pass {np.mean(rews):.3f}  "
              f"groups_kept {len(xs)}/{NPROMPT}  dropped {dropped}  draws {draws}  "
              f"greedy_pass {greedy_pass_rate(policy):.3f}  ({time.time()-t0:.1f}s)")
print(f"final greedy pass rate {greedy_pass_rate(policy):.3f} vs majority {majority:.3f} vs random {1/K:.3f}")
