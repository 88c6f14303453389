"""Tram eco-driving between two stops, trained with PPO (clipped surrogate + GAE).

64 simulated trams run a 1 km section. Each tick the driver picks brake / coast / power.
Reward: +1.5 per km covered, -0.02 per tick (timetable), -0.01 per powered tick (energy), +1 for
stopping at the platform, minus an overspeed penalty at the platform, -1 if the section is not cleared in time.
Learning rate warms up from exactly 0. Halfway through, the run is checkpointed to disk and
resumed into fresh objects, as a long run on a shared machine would be.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_ENV, HORIZON, MAX_TICKS = 64, 96, 80
GAMMA, LAM, CLIP = 0.99, 0.95, 0.2
UPDATES, EPOCHS, MINIBATCHES = 40, 4, 4
PEAK_LR, WARMUP = 3e-3, 5


class Section:
    def __init__(self, n, rng):
        self.n, self.rng = n, rng
        self.reset_all()

    def reset_all(self):
        self.x = np.zeros(self.n)
        self.v = np.zeros(self.n)
        self.t = np.zeros(self.n)

    def obs(self):
        return np.stack([self.x, self.v * 4.0, self.t / MAX_TICKS, 1.0 - self.x], 1).astype(np.float32)

    def step(self, a):
        acc = np.where(a == 2, 0.0022, np.where(a == 0, -0.0040, -0.0003))
        acc = acc + self.rng.normal(0, 0.0003, self.n)
        self.v = np.clip(self.v + acc, 0.0, 0.05)
        self.x = self.x + self.v
        self.t += 1
        r = 1.5 * self.v - 0.02 - 0.01 * (a == 2)
        arrived = self.x >= 1.0
        late = (self.t >= MAX_TICKS) & ~arrived
        r = r + arrived * (1.0 - 40.0 * np.maximum(self.v - 0.008, 0.0)) - late * 1.0
        done = arrived | late
        for i in np.nonzero(done)[0]:
            self.x[i], self.v[i], self.t[i] = 0.0, 0.0, 0.0
        return r.astype(np.float32), done


class ActorCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.pi = nn.Linear(64, 3)
        self.v = nn.Linear(64, 1)

    def __call__(self, s):
        h = self.trunk(s)
        return self.pi(h), self.v(h).squeeze(-1)


def ppo_loss(model, s, a, old_logp, adv, ret):
    logits, value = model(s)
    logp_all = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp = mx.take_along_axis(logp_all, a[:, None], axis=-1).squeeze(-1)
    ratio = mx.exp(logp - old_logp)
    surr = mx.minimum(ratio * adv, mx.clip(ratio, 1 - CLIP, 1 + CLIP) * adv)
    pg = -mx.mean(surr)
    vf = mx.mean((value - ret) ** 2)
    ent = -mx.mean(mx.sum(mx.exp(logp_all) * logp_all, axis=-1))
    return pg + 0.5 * vf - 0.01 * ent, (pg, vf, ent)


def heuristic_return(rng, episodes=64):
    env = Section(episodes, rng)
    total, finished = np.zeros(episodes), np.zeros(episodes, bool)
    for _ in range(MAX_TICKS + 1):
        a = np.where(env.x < 0.45, 2, np.where(env.x < 0.8, 1, 0))
        a = np.where((a == 0) & (env.v < 0.006), 1, a)
        r, d = env.step(a)
        total += r * ~finished
        finished |= d
    return total.mean()


def greedy_return(model, rng, episodes=64):
    env = Section(episodes, rng)
    total, finished = np.zeros(episodes), np.zeros(episodes, bool)
    for _ in range(MAX_TICKS + 1):
        logits, _ = model(mx.array(env.obs()))
        a = np.array(mx.argmax(logits, axis=-1))
        r, d = env.step(a)
        total += r * ~finished
        finished |= d
    return total.mean()


def lr_at(u):
    return PEAK_LR * min(u / WARMUP, 1.0)


def save_ckpt(path, model, opt, update):
    model.save_weights(os.path.join(path, "weights.safetensors"))
    state = dict(tree_flatten(opt.state))
    state["__update__"] = mx.array(update)
    mx.save_safetensors(os.path.join(path, "opt.safetensors"), state)


def load_ckpt(path):
    model = ActorCritic()
    model.load_weights(os.path.join(path, "weights.safetensors"))
    opt = optim.Adam(learning_rate=0.0)
    st = mx.load(os.path.join(path, "opt.safetensors"))
    update = int(st.pop("__update__").item())
    opt.state = tree_unflatten(list(st.items()))
    return model, opt, update


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    model = ActorCritic()
    opt = optim.Adam(learning_rate=0.0)
    env = Section(N_ENV, rng)
    loss_and_grad = nn.value_and_grad(model, ppo_loss)
    print(f"timetable heuristic (power/coast/brake by distance): mean return {heuristic_return(np.random.default_rng(99)):.3f}")
    print(f"untrained policy greedy return: {greedy_return(model, np.random.default_rng(99)):.3f}")
    ckdir = tempfile.mkdtemp(None, "tram_ppo_")
    t0 = time.time()
    u = 0
    ep_returns, running = [], np.zeros(N_ENV)
    while u < UPDATES:
        if u == UPDATES // 2 and not os.path.exists(os.path.join(ckdir, "opt.safetensors")):
            save_ckpt(ckdir, model, opt, u)
            del model, opt, loss_and_grad
            model, opt, u = load_ckpt(ckdir)
            loss_and_grad = nn.value_and_grad(model, ppo_loss)
            print(f"-- checkpoint written and resumed at update {u} --")
        opt.learning_rate = lr_at(u)
        S, A, LP, R, D, V = [], [], [], [], [], []
        for _ in range(HORIZON):
            s = env.obs()
            logits, val = model(mx.array(s))
            a = mx.random.categorical(logits)
            lp = mx.take_along_axis(logits - mx.logsumexp(logits, -1, keepdims=True), a[:, None], -1).squeeze(-1)
            mx.eval(a, lp, val)
            a_np = np.array(a)
            r, d = env.step(a_np)
            running += r
            for i in np.nonzero(d)[0]:
                ep_returns.append(running[i])
                running[i] = 0.0
            S.append(s); A.append(a_np); LP.append(np.array(lp)); R.append(r); D.append(d); V.append(np.array(val))
        _, last_v = model(mx.array(env.obs()))
        last_v = np.array(last_v)
        adv = np.zeros((HORIZON, N_ENV), np.float32)
        gae = np.zeros(N_ENV, np.float32)
        for t in reversed(range(HORIZON)):
            nv = last_v if t == HORIZON - 1 else V[t + 1]
            nonterm = 1.0 - D[t]
            delta = R[t] + GAMMA * nv * nonterm - V[t]
            gae = delta + GAMMA * LAM * nonterm * gae
            adv[t] = gae
        ret = adv + np.stack(V)
        flat = lambda x: np.asarray(x).reshape(HORIZON * N_ENV, *np.asarray(x).shape[2:])
        s_b, a_b, lp_b = flat(np.stack(S)), flat(np.stack(A)).astype(np.int32), flat(np.stack(LP))
        adv_b, ret_b = flat(adv), flat(ret)
        adv_b = (adv_b - adv_b.mean()) / (adv_b.std() + 1e-8)
        n = len(s_b)
        for _ in range(EPOCHS):
            perm = rng.permutation(n)
            for mb in np.array_split(perm, MINIBATCHES):
                (loss, (pg, vf, ent)), g = loss_and_grad(
                    model, mx.array(s_b[mb]), mx.array(a_b[mb]), mx.array(lp_b[mb]),
                    mx.array(adv_b[mb]), mx.array(ret_b[mb]))
                g, _ = optim.clip_grad_norm(g, 0.5)
                opt.update(model, g)
                mx.eval(model.parameters(), opt.state)
        u += 1
        recent = np.mean(ep_returns[-64:]) if ep_returns else float("nan")
        print(f"update {u:2d} lr {lr_at(u - 1):.5f} pg_loss {pg.item():+.4f} v_loss {vf.item():.4f} "
              f"entropy {ent.item():.3f} episodes {len(ep_returns):5d} mean_return(last64) {recent:+.3f}")
    g_ret = greedy_return(model, np.random.default_rng(99))
    h_ret = heuristic_return(np.random.default_rng(99))
    print(f"final greedy return {g_ret:.3f} vs timetable heuristic {h_ret:.3f} ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
