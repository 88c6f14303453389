"""Grain-silo aeration fan control, learned with an IMPALA-style learner.

Actors run a copy of the policy that is refreshed only every few learner
updates, so their rollouts are slightly off-policy; the learner corrects
for that with V-trace (truncated importance weights).  Rewards are costs
(always <= 0): hot spots, wet grain and fan electricity.
"""
import os
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
N_SILOS = 32
HORIZON = 40
UNROLL = 20
GAMMA = 0.95
RHO_BAR = 1.0
C_BAR = 1.0
ACTOR_REFRESH = 4
UPDATES = 600
CKPT_AT = 300
COOL = np.array([0.0, 0.35, 0.75])
DRY = np.array([0.0, 0.10, 0.22])
POWER = np.array([0.0, 0.10, 0.30])
REW_SCALE = 0.25


class Silos:
    def __init__(self, n, rng):
        self.n, self.rng = n, rng
        self.reset_all()

    def reset_all(self):
        self.temp = self.rng.uniform(0.0, 1.5, self.n)
        self.wet = self.rng.uniform(0.0, 0.6, self.n)
        self.hum = self.rng.uniform(0.2, 1.0, self.n)
        self.t = np.zeros(self.n, dtype=np.int64)

    def obs(self):
        return np.stack([self.temp, self.wet, self.hum, self.t / HORIZON], 1).astype(np.float32)

    def step(self, a):
        drying = DRY[a] * (0.6 - self.hum)
        self.temp = self.temp + 0.20 + 0.30 * self.wet - COOL[a] + self.rng.normal(0, 0.05, self.n)
        self.temp = np.maximum(self.temp, -1.0)
        self.wet = np.clip(self.wet - drying + self.rng.normal(0, 0.02, self.n), -0.2, 2.0)
        self.hum = np.clip(0.7 * self.hum + 0.3 * self.rng.uniform(0.2, 1.0, self.n), 0.2, 1.0)
        r = -(0.5 * np.abs(self.temp) + 2.0 * np.maximum(self.wet, 0.0) + POWER[a])
        self.t += 1
        done = self.t >= HORIZON
        if done.any():
            k = int(done.sum())
            self.temp[done] = self.rng.uniform(0.0, 1.5, k)
            self.wet[done] = self.rng.uniform(0.0, 0.6, k)
            self.hum[done] = self.rng.uniform(0.2, 1.0, k)
            self.t[done] = 0
        return r.astype(np.float32), done.astype(np.float32)


class AeratorNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 64)
        self.l2 = nn.Linear(64, 64)
        self.pi = nn.Linear(64, 3)
        self.v = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.tanh(self.l2(nn.tanh(self.l1(x))))
        return self.pi(h), self.v(h).squeeze(-1)


def rollout(actor, env, rng):
    obs, acts, mu_logp, rews, dones = [], [], [], [], []
    for _ in range(UNROLL):
        o = env.obs()
        logits, _ = actor(mx.array(o))
        logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        p = np.array(mx.exp(logp))
        p = p / p.sum(1, keepdims=True)
        a = (p.cumsum(1) > rng.uniform(size=(env.n, 1))).argmax(1)
        r, d = env.step(a)
        obs.append(o); acts.append(a); rews.append(r); dones.append(d)
        mu_logp.append(np.array(logp)[np.arange(env.n), a])
    boot = env.obs()
    return (np.stack(obs), np.stack(acts), np.stack(mu_logp), np.stack(rews), np.stack(dones), boot)


def vtrace(values, boot_v, rews, dones, log_rho):
    rho = mx.exp(log_rho)
    rho_c = mx.minimum(rho, RHO_BAR)
    cs = mx.minimum(rho, C_BAR)
    notdone = 1.0 - dones
    next_v = mx.concatenate([values[1:], boot_v[None]], 0)
    deltas = rho_c * (rews + GAMMA * notdone * next_v - values)
    acc = mx.zeros_like(boot_v)
    out = []
    for t in range(UNROLL - 1, -1, -1):
        acc = deltas[t] + GAMMA * notdone[t] * cs[t] * acc
        out.append(acc)
    vs = mx.stack(out[::-1], 0) + values
    vs_next = mx.concatenate([vs[1:], boot_v[None]], 0)
    pg_adv = rho_c * (rews + GAMMA * notdone * vs_next - values)
    return mx.stop_gradient(vs), mx.stop_gradient(pg_adv), rho


def loss_fn(model, obs, acts, mu_logp, rews, dones, boot, ent_coef):
    T, B = acts.shape
    logits, values = model(obs.reshape(T * B, 4))
    logits = logits.reshape(T, B, 3)
    values = values.reshape(T, B)
    _, boot_v = model(boot)
    logp_all = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp = mx.take_along_axis(logp_all, acts[..., None], axis=-1).squeeze(-1)
    vs, pg_adv, rho = vtrace(mx.stop_gradient(values), mx.stop_gradient(boot_v), rews, dones,
                             mx.stop_gradient(logp) - mu_logp)
    pg_loss = -(logp * pg_adv).mean()
    v_loss = 0.5 * ((values - vs) ** 2).mean()
    entropy = -(mx.exp(logp_all) * logp_all).sum(-1).mean()
    total = pg_loss + 0.5 * v_loss - ent_coef * entropy
    clip_frac = (rho > RHO_BAR).astype(mx.float32).mean()
    return total, (pg_loss, v_loss, entropy, clip_frac)


def greedy_return(policy_fn, seed, episodes=64):
    env = Silos(episodes, np.random.default_rng(seed))
    total = np.zeros(episodes)
    for _ in range(HORIZON):
        a = policy_fn(env.obs())
        r, _ = env.step(a)
        total += r
    return float(total.mean())


def make_opt():
    warm = optim.linear_schedule(0.0, 1e-3, 40)
    return optim.Adam(learning_rate=optim.join_schedules([warm, optim.cosine_decay(1e-3, UPDATES, 1e-4)], [40]))


def main():
    t0 = time.time()
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    learner = AeratorNet()
    actor = AeratorNet()
    mx.eval(learner.parameters())
    actor.update(learner.parameters())
    opt = make_opt()
    env = Silos(N_SILOS, rng)
    vg = nn.value_and_grad(learner, loss_fn)

    base = {
        "fan_off": greedy_return(lambda o: np.zeros(len(o), dtype=np.int64), 777),
        "fan_high": greedy_return(lambda o: np.full(len(o), 2), 777),
        "dry_air_rule": greedy_return(lambda o: np.where(o[:, 2] < 0.6, 2, np.where(o[:, 0] > 0.8, 1, 0)), 777),
    }
    print("baselines (64 silos x 40 h, return per silo): " +
          "  ".join(f"{k}={v:.2f}" for k, v in base.items()))
    print(f"{'upd':>4} {'lr':>9} {'rew/step':>9} {'pg':>8} {'value':>8} {'entropy':>8} {'rho>1':>6}")

    upd = 0
    while upd < UPDATES:
        if upd % ACTOR_REFRESH == 0:
            actor.update(learner.parameters())
        batch = rollout(actor, env, rng)
        o, a, ml, r, d, b = batch
        ent_coef = 0.03 * max(0.0, 1.0 - upd / (0.8 * UPDATES))
        lr_now = float(opt.learning_rate)
        (loss, (pg, vl, ent, cf)), grads = vg(learner, mx.array(o), mx.array(a), mx.array(ml),
                                             mx.array(r * REW_SCALE), mx.array(d), mx.array(b), ent_coef)
        grads, _ = optim.clip_grad_norm(grads, 1.0)
        opt.update(learner, grads)
        mx.eval(learner.parameters(), opt.state)
        upd += 1
        if upd % 20 == 0 or upd == 1:
            print(f"{upd:4d} {lr_now:9.2e} {r.mean():9.3f} {pg.item():8.4f} {vl.item():8.4f} {ent.item():8.4f} {cf.item():6.3f}")
        if upd % 100 == 0:
            def greedy(obs):
                logits, _ = learner(mx.array(obs))
                return np.array(mx.argmax(logits, -1))
            print(f"     eval greedy return per silo: {greedy_return(greedy, 777):.2f}")
        if upd == CKPT_AT:
            ckdir = tempfile.mkdtemp()
            wpath = os.path.join(ckdir, "learner.safetensors")
            opath = os.path.join(ckdir, "adam.safetensors")
            learner.save_weights(wpath)
            mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
            print(f"     checkpoint written at update {upd}; restarting learner from disk")
            learner = AeratorNet()
            learner.load_weights(wpath)
            opt = make_opt()
            opt.state = tree_unflatten(list(mx.load(opath).items()))
            vg = nn.value_and_grad(learner, loss_fn)
            actor.update(learner.parameters())

    def greedy(obs):
        logits, _ = learner(mx.array(obs))
        return np.array(mx.argmax(logits, -1))
    final = greedy_return(greedy, 777)
    print(f"final greedy return per silo: {final:.2f}  (best baseline {max(base.values()):.2f})")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
