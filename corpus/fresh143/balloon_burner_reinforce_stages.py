"""Hot-air balloon burner policy trained with REINFORCE.

A pilot must hold a target altitude for 14 ten-second ticks.  Each tick the
policy picks a burner duty 0..4 from (altitude error, climb rate, last duty).
Reward per tick = -|error| / 10 m - 0.04 * duty (propane).  Higher is better.
Stage "calm" has still air; stage "thermals" adds an unseen per-flight
updraft and gustier air, so the return drops when that stage begins and
then holds on a harder plateau (still well above the hand rule).
"""
import logging
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s balloon: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger()

B, T, A = 256, 14, 5
mx.random.seed(9021)


def step_air(err, vz, duty, lift, gust):
    # climb rate responds sluggishly to burner duty (neutral buoyancy at duty 2)
    vz = 0.75 * vz + 0.9 * (duty.astype(mx.float32) - 2.0) + lift + gust * mx.random.normal(vz.shape)
    err = err + vz
    return err, vz


class Pilot(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3 + A, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh())
        self.head = nn.Linear(48, A)

    def __call__(self, obs):
        return self.head(self.body(obs))


def observe(err, vz, prev):
    return mx.concatenate([mx.stack([err / 20.0, vz / 3.0], axis=1),
                           mx.ones((err.shape[0], 1)),
                           mx.eye(A)[prev]], axis=1)


def rollout(policy, stage, greedy=False, fixed=None):
    err = mx.random.uniform(-25.0, 25.0, (B,))
    vz = mx.zeros((B,))
    prev = mx.full((B,), 2, dtype=mx.int32)
    lift = mx.random.uniform(-1.0, 1.0, (B,)) * (1.2 if stage == "thermals" else 0.0)
    gust = 0.8 if stage == "thermals" else 0.3
    obs_l, act_l, rew_l = [], [], []
    for _ in range(T):
        obs = observe(err, vz, prev)
        if fixed is not None:
            act = fixed(err, vz)
        else:
            logits = policy(obs)
            act = mx.argmax(logits, axis=1) if greedy else mx.random.categorical(logits)
        act = act.astype(mx.int32)
        err, vz = step_air(err, vz, act, lift, gust)
        rew = -mx.abs(err) / 10.0 - 0.04 * act.astype(mx.float32)
        obs_l.append(obs)
        act_l.append(act)
        rew_l.append(rew)
    obs = mx.stack(obs_l)       # T,B,F
    acts = mx.stack(act_l)      # T,B
    rews = mx.stack(rew_l)      # T,B
    # reward-to-go, undiscounted
    rtg = mx.cumsum(rews[::-1], axis=0)[::-1]
    mx.eval(obs, acts, rews, rtg)
    return obs, acts, rews, rtg


def rule_pilot(err, vz):
    # a crude hand rule used only as a printed reference
    want = -0.3 * err - 0.8 * vz
    return mx.clip(mx.round(2.0 + want / 0.9), 0, 4)


policy = Pilot()
mx.eval(policy.parameters())
opt = optim.RMSprop(learning_rate=3e-3)


def pg_loss(model, obs, acts, adv):
    logits = model(obs)
    logp_all = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp = mx.take_along_axis(logp_all, acts[..., None], axis=-1).squeeze(-1)
    ent = -mx.sum(mx.exp(logp_all) * logp_all, axis=-1).mean()
    return -mx.mean(logp * adv) - 0.01 * ent


grad_fn = nn.value_and_grad(policy, pg_loss)

for stage in ("calm", "thermals"):
    _, _, r_rand, _ = rollout(None, stage, fixed=lambda e, v: mx.random.randint(0, A, e.shape))
    _, _, r_rule, _ = rollout(None, stage, fixed=rule_pilot)
    log.info("stage=%s reference returns: random %.2f | hand-rule %.2f (per flight, higher=better)",
             stage, r_rand.sum(0).mean().item(), r_rule.sum(0).mean().item())
    t0 = time.time()
    for it in range(1, 151):
        obs, acts, rews, rtg = rollout(policy, stage)
        # per-tick baseline across the batch
        adv = (rtg - rtg.mean(axis=1, keepdims=True)) / (rtg.std(axis=1, keepdims=True) + 1e-6)
        loss, grads = grad_fn(policy, obs, acts, adv)
        if it == 1 and stage == "calm":
            for name, g in nn.utils.tree_flatten(grads):
                assert float(mx.abs(g).sum()) > 0.0, name
        opt.update(policy, grads)
        mx.eval(policy.parameters(), opt.state, loss)
        if it % 15 == 0 or it == 1:
            ret = rews.sum(0).mean().item()
            burn = acts.astype(mx.float32).mean().item() / 4 * 100
            _, _, rg, _ = rollout(policy, stage, greedy=True)
            log.info("stage=%s iter=%03d return=%.2f greedy_return=%.2f burner=%.0f%% surrogate=%+.4f",
                     stage, it, ret, rg.sum(0).mean().item(), burn, loss.item())
    log.info("stage=%s finished in %.1fs", stage, time.time() - t0)

_, _, rf, _ = rollout(policy, "thermals", greedy=True)
log.info("final greedy return on thermals: %.2f over %d flights", rf.sum(0).mean().item(), B)
