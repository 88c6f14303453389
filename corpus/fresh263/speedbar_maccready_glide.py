"""Paraglider speed-to-fly on an inter-thermal glide, learned with PPO.

This run uses the KL-penalty form of PPO (no ratio clipping): the surrogate
is penalised by beta * KL(old || new), and beta is doubled or halved after
each iteration depending on the measured KL.  A separate critic with its own
optimizer is fitted to GAE returns.  The first iterations only fit the critic
(the policy is held still while the value estimates settle).
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 5
N_WINGS = 32
HORIZON = 60
GOAL_M = 3000.0
ROLL = 40
DT = 10.0
AIRSPEED = np.array([9.0, 11.0, 13.0])        # trim / half bar / full bar, m/s
POLAR_SINK = np.array([1.1, 1.5, 2.2])        # m/s
ZONE_W = np.array([2.0, 0.0, -3.0])           # lift / neutral / sink, m/s
ZONE_P = np.array([0.25, 0.40, 0.35])
ITERS = 100
CRITIC_ONLY = 10
KL_TARGET = 0.02
GAMMA, LAM = 0.98, 0.95


class Glide:
    def __init__(self, n, rng):
        self.n, self.rng = n, rng
        self.alt = np.zeros(n); self.zone = np.zeros(n, dtype=np.int64)
        self.left = np.zeros(n); self.wind = np.zeros(n); self.t = np.zeros(n, dtype=np.int64)
        self.dist = np.zeros(n)
        self._reset(np.ones(n, dtype=bool))

    def _reset(self, m):
        k = int(m.sum())
        self.alt[m] = self.rng.uniform(650, 900, k)
        self.zone[m] = self.rng.choice(3, size=k, p=ZONE_P)
        self.left[m] = self.rng.uniform(200, 600, k)
        self.wind[m] = self.rng.uniform(-2, 2, k)
        self.dist[m] = 0.0
        self.t[m] = 0

    def obs(self):
        vario = ZONE_W[self.zone] + self.rng.normal(0, 0.3, self.n)
        return np.stack([vario, self.alt / 1000.0, self.wind / 2.0, self.dist / GOAL_M], 1).astype(np.float32)

    def step(self, a):
        ground = np.maximum(AIRSPEED[a] - self.wind, 1.0) * DT
        climb = (ZONE_W[self.zone] - POLAR_SINK[a]) * DT
        self.alt += climb
        self.left -= ground
        self.dist += ground
        moved = self.left <= 0
        if moved.any():
            k = int(moved.sum())
            self.zone[moved] = self.rng.choice(3, size=k, p=ZONE_P)
            self.left[moved] += self.rng.uniform(200, 600, k)
        r = 0.01 * climb
        self.t += 1
        landed = self.alt <= 0
        arrived = (self.dist >= GOAL_M) & ~landed
        r = np.where(landed, r - 3.0, np.where(arrived, r + 1.0, r))
        done = landed | arrived | (self.t >= HORIZON)
        self._reset(done)
        return r.astype(np.float32), done.astype(np.float32), landed


def mlp(out):
    return nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, out))


def sample(logits, rng):
    p = np.array(mx.softmax(logits, axis=-1)).astype(np.float64)
    p /= p.sum(1, keepdims=True)
    return (p.cumsum(1) > rng.uniform(size=(len(p), 1))).argmax(1)


def collect(policy, critic, env, rng, steps=ROLL):
    O, A, R, D, L, LG, V = [], [], [], [], [], [], []
    for _ in range(steps):
        o = env.obs()
        logits = policy(mx.array(o))
        v = critic(mx.array(o)).squeeze(-1)
        a = sample(logits, rng)
        r, d, landed = env.step(a)
        O.append(o); A.append(a); R.append(r); D.append(d); L.append(landed)
        LG.append(np.array(logits)); V.append(np.array(v))
    last_v = np.array(critic(mx.array(env.obs())).squeeze(-1))
    return [np.stack(x) for x in (O, A, R, D, L, LG, V)] + [last_v]


def gae(R, D, V, last_v):
    adv = np.zeros_like(R)
    acc = np.zeros(R.shape[1], dtype=np.float32)
    for t in range(R.shape[0] - 1, -1, -1):
        nv = last_v if t == R.shape[0] - 1 else V[t + 1]
        delta = R[t] + GAMMA * (1 - D[t]) * nv - V[t]
        acc = delta + GAMMA * LAM * (1 - D[t]) * acc
        adv[t] = acc
    return adv, adv + V


def policy_loss(policy, obs, act, old_logits, adv, beta):
    logits = policy(obs)
    logp = logits - mx.logsumexp(logits, -1, keepdims=True)
    old_logp = old_logits - mx.logsumexp(old_logits, -1, keepdims=True)
    ratio = mx.exp(mx.take_along_axis(logp - old_logp, act[:, None], -1).squeeze(-1))
    kl = (mx.exp(old_logp) * (old_logp - logp)).sum(-1).mean()
    return -(ratio * adv).mean() + beta * kl, kl


def critic_loss(critic, obs, ret):
    return nn.losses.huber_loss(critic(obs).squeeze(-1), ret, delta=1.0, reduction="mean")


def evaluate(act_fn, seed, n=256):
    env = Glide(n, np.random.default_rng(seed))
    total, landouts = np.zeros(n), 0
    alive = np.ones(n, dtype=bool)
    for _ in range(HORIZON):
        r, d, landed = env.step(act_fn(env.obs()))
        total += np.where(alive, r, 0.0)
        landouts += int((landed & alive).sum())
        alive &= d == 0
    return float(total.mean()), landouts


def main():
    t0 = time.time()
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    policy, critic = mlp(3), mlp(1)
    mx.eval(policy.parameters(), critic.parameters())
    p_opt, c_opt = optim.Adam(learning_rate=1e-3), optim.Adam(learning_rate=1e-3)
    p_vg = nn.value_and_grad(policy, policy_loss)
    c_vg = nn.value_and_grad(critic, critic_loss)
    env = Glide(N_WINGS, rng)
    beta = 1.0

    rules = {
        "trim_only": lambda o: np.zeros(len(o), dtype=np.int64),
        "full_bar_only": lambda o: np.full(len(o), 2),
        "vario_rule": lambda o: np.where(o[:, 0] > 1.0, 0, np.where(o[:, 0] < -1.5, 2, 1)),
    }
    for k, fn in rules.items():
        ret, lo = evaluate(fn, 2024)
        print(f"baseline {k:14s} return {ret:7.3f}  landouts {lo}")

    for it in range(1, ITERS + 1):
        O, A, R, D, L, LG, V, last_v = collect(policy, critic, env, rng)
        adv, ret = gae(R, D, V, last_v)
        n = O.shape[0] * O.shape[1]
        obs = mx.array(O.reshape(n, 4)); act = mx.array(A.reshape(n))
        old = mx.array(LG.reshape(n, 3)); ret_m = mx.array(ret.reshape(n))
        a = adv.reshape(n)
        adv_m = mx.array((a - a.mean()) / (a.std() + 1e-8))
        perm_all = [rng.permutation(n) for _ in range(6)]
        for perm in perm_all:
            for mb in np.array_split(perm, 4):
                idx = mx.array(mb)
                cl, cg = c_vg(critic, obs[idx], ret_m[idx])
                c_opt.update(critic, cg)
                mx.eval(critic.parameters(), c_opt.state)
        kl_val = 0.0
        if it > CRITIC_ONLY:
            for perm in perm_all[:4]:
                for mb in np.array_split(perm, 4):
                    idx = mx.array(mb)
                    (pl, kl), pg = p_vg(policy, obs[idx], act[idx], old[idx], adv_m[idx], beta)
                    p_opt.update(policy, pg)
                    mx.eval(policy.parameters(), p_opt.state)
            _, kl_all = policy_loss(policy, obs, act, old, adv_m, beta)
            kl_val = kl_all.item()
            if kl_val > 1.5 * KL_TARGET:
                beta *= 2.0
            elif kl_val < KL_TARGET / 1.5:
                beta /= 2.0
            beta = float(np.clip(beta, 1e-3, 1e3))
        if it % 10 == 0 or it == 1:
            stage = "critic" if it <= CRITIC_ONLY else "ppo"
            print(f"it {it:3d} [{stage:6s}] rew/step {R.mean():7.4f} landouts {int(L.sum()):3d} "
                  f"critic {cl.item():.4f} kl {kl_val:.5f} beta {beta:8.4f}")
        if it % 50 == 0:
            greedy = lambda o: np.array(mx.argmax(policy(mx.array(o)), -1))
            r_eval, lo = evaluate(greedy, 2024)
            print(f"   eval greedy return {r_eval:7.3f}  landouts {lo}")

    greedy = lambda o: np.array(mx.argmax(policy(mx.array(o)), -1))
    r_eval, lo = evaluate(greedy, 2024)
    print(f"final greedy return {r_eval:.3f} landouts {lo}; done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
