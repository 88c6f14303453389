"""Wood-kiln firing controller trained with soft actor-critic.

A toy kiln (numpy) must follow a firing schedule: ramp, soak, ramp, soak.
The action is a continuous air-damper setting in [-1, 1]. Soft actor-critic
with twin critics, Polyak targets and a learned entropy temperature.
Training is split in two sessions: the first session saves a checkpoint
(weights + optimizer states + replay buffer + counters), the second one
rebuilds everything from disk and carries on.
"""
import os
import shutil
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
N_KILNS = 16
EP_LEN = 60
GAMMA = 0.97
TAU = 0.01
BATCH = 128
RANDOM_STEPS = 40          # env steps (x N_KILNS transitions) of uniform random damper before learning
TOTAL_STEPS = 300          # env steps in all (both sessions)
SESSION_SPLIT = 150        # session 1 stops here and writes a checkpoint
UPDATES_PER_STEP = 2
CKPT = "anagama_ckpt"

np.random.seed(SEED)
mx.random.seed(SEED)


def schedule(t):
    """Target temperature (deg C) over the 60-step firing."""
    t = np.asarray(t, dtype=np.float64)
    return np.where(t < 20, 200 + 30 * t,
           np.where(t < 30, 800.0,
           np.where(t < 45, 800 + 25 * (t - 30), 1175.0)))


class Kilns:
    def __init__(self, n, rng):
        self.n, self.rng = n, rng
        self.reset_all()

    def reset_all(self):
        self.t = np.zeros(self.n, dtype=np.int64)
        self.temp = 200 + self.rng.normal(0, 15, self.n)
        self.wood = self.rng.uniform(0.8, 1.2, self.n)  # fuel quality per firing

    def reset_some(self, mask):
        k = int(mask.sum())
        self.t[mask] = 0
        self.temp[mask] = 200 + self.rng.normal(0, 15, k)
        self.wood[mask] = self.rng.uniform(0.8, 1.2, k)

    def obs(self):
        tgt = schedule(self.t)
        nxt = schedule(np.minimum(self.t + 1, EP_LEN - 1))
        return np.stack([(self.temp - tgt) / 100.0, tgt / 1000.0, (nxt - tgt) / 30.0,
                         self.t / EP_LEN, self.wood - 1.0], axis=1).astype(np.float32)

    def step(self, a):
        a = np.clip(a, -1, 1)
        damper = (a + 1) / 2
        heat = 95.0 * damper * self.wood
        loss = 0.06 * (self.temp - 20.0)
        self.temp = self.temp + heat - loss + self.rng.normal(0, 6, self.n)
        self.t += 1
        err = (self.temp - schedule(self.t)) / 100.0
        r = -np.abs(err) - 0.02 * a ** 2
        done = self.t >= EP_LEN - 1
        return r.astype(np.float32), done


def mlp(i, o, h=64):
    return nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, o))


class Actor(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = mlp(5, 2)

    def __call__(self, s, eps):
        out = self.body(s)
        mu, log_std = out[:, :1], mx.clip(out[:, 1:], -5.0, 1.0)
        u = mu + mx.exp(log_std) * eps
        a = mx.tanh(u)
        logp = (-0.5 * eps ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(1)
        logp = logp - mx.log(1 - a ** 2 + 1e-6).sum(1)
        return a, logp, mx.tanh(mu)


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.q1 = mlp(6, 1)
        self.q2 = mlp(6, 1)

    def __call__(self, s, a):
        x = mx.concatenate([s, a], axis=1)
        return self.q1(x)[:, 0], self.q2(x)[:, 0]


class Temperature(nn.Module):
    def __init__(self):
        super().__init__()
        self.log_alpha = mx.array([0.0])


TARGET_ENTROPY = -1.0


def build():
    actor, critic, critic_t, temp = Actor(), Critic(), Critic(), Temperature()
    critic_t.update(critic.parameters())
    critic_t.freeze()
    warm = optim.linear_schedule(0.0, 3e-4, 200)   # actor lr starts at exactly 0
    opt_a = optim.Adam(learning_rate=warm)
    opt_c = optim.Adam(learning_rate=5e-4)
    opt_t = optim.Adam(learning_rate=3e-3)
    mx.eval(actor.parameters(), critic.parameters(), critic_t.parameters(), temp.parameters())
    return actor, critic, critic_t, temp, opt_a, opt_c, opt_t


def critic_loss(critic, s, a, y):
    q1, q2 = critic(s, a)
    return ((q1 - y) ** 2).mean() + ((q2 - y) ** 2).mean()


def actor_loss(actor, critic, alpha, s, eps):
    a, logp, _ = actor(s, eps)
    q1, q2 = critic(s, a)
    return (alpha * logp - mx.minimum(q1, q2)).mean(), logp


def temp_loss(temp, logp):
    return -(temp.log_alpha * mx.stop_gradient(logp + TARGET_ENTROPY)).mean()


def make_update(actor, critic, critic_t, temp, opt_a, opt_c, opt_t):
    c_grad = nn.value_and_grad(critic, critic_loss)
    a_grad = nn.value_and_grad(actor, actor_loss)
    t_grad = nn.value_and_grad(temp, temp_loss)

    def update(s, a, r, s2, d):
        alpha = mx.exp(temp.log_alpha)[0]
        a2, logp2, _ = actor(s2, mx.random.normal((s2.shape[0], 1)))
        q1t, q2t = critic_t(s2, a2)
        y = mx.stop_gradient(r + GAMMA * (1 - d) * (mx.minimum(q1t, q2t) - alpha * logp2))
        lc, gc = c_grad(critic, s, a, y)
        opt_c.update(critic, gc)
        (la, logp), ga = a_grad(actor, critic, mx.stop_gradient(alpha), s, mx.random.normal((s.shape[0], 1)))
        opt_a.update(actor, ga)
        lt, gt = t_grad(temp, logp)
        opt_t.update(temp, gt)
        new_t = [(k, (1 - TAU) * v_t + TAU * v)
                 for (k, v_t), (_, v) in zip(tree_flatten(critic_t.parameters()), tree_flatten(critic.parameters()))]
        critic_t.update(tree_unflatten(new_t))
        return lc, la, lt, logp.mean()

    return update


def evaluate(policy_fn, episodes=4, seed=123):
    rng = np.random.default_rng(seed)
    env = Kilns(32, rng)
    total, maxerr = 0.0, 0.0
    for _ in range(episodes):
        env.reset_all()
        for _ in range(EP_LEN - 1):
            a = policy_fn(env.obs())
            r, _ = env.step(a)
            total += r.mean()
        maxerr = max(maxerr, float(np.abs(env.temp - schedule(env.t)).mean()))
    return total / episodes, maxerr


def save_ckpt(path, mods, opts, buf, counters):
    os.makedirs(path, exist_ok=True)
    for name, m in mods.items():
        m.save_weights(os.path.join(path, f"{name}.safetensors"))
    for name, o in opts.items():
        flat = dict(tree_flatten(o.state))
        mx.save_safetensors(os.path.join(path, f"opt_{name}.safetensors"), flat)
    np.savez(os.path.join(path, "replay.npz"), **buf)
    np.save(os.path.join(path, "counters.npy"), np.array(counters, dtype=np.int64))


def load_ckpt(path, mods, opts):
    for name, m in mods.items():
        m.load_weights(os.path.join(path, f"{name}.safetensors"))
    for name, o in opts.items():
        flat = mx.load(os.path.join(path, f"opt_{name}.safetensors"))
        o.state = tree_unflatten(list(flat.items()))
    buf = dict(np.load(os.path.join(path, "replay.npz")))
    counters = np.load(os.path.join(path, "counters.npy")).tolist()
    mx.eval([m.parameters() for m in mods.values()], [o.state for o in opts.values()])
    return buf, counters


def run_session(start_step, stop_step, resume):
    actor, critic, critic_t, temp, opt_a, opt_c, opt_t = build()
    mods = {"actor": actor, "critic": critic, "critic_target": critic_t, "temperature": temp}
    opts = {"actor": opt_a, "critic": opt_c, "temperature": opt_t}
    cap = TOTAL_STEPS * N_KILNS
    if resume:
        buf, (start_step, n_updates, size, ptr) = load_ckpt(CKPT, mods, opts)
        print(f"resumed at env step {start_step}: {n_updates} updates done, replay {size} rows, "
              f"actor lr {float(opt_a.learning_rate):.2e}, alpha {float(mx.exp(temp.log_alpha)[0]):.3f}")
    else:
        buf = {"s": np.zeros((cap, 5), np.float32), "a": np.zeros((cap, 1), np.float32),
               "r": np.zeros(cap, np.float32), "s2": np.zeros((cap, 5), np.float32),
               "d": np.zeros(cap, np.float32)}
        n_updates, size, ptr = 0, 0, 0
    update = make_update(actor, critic, critic_t, temp, opt_a, opt_c, opt_t)
    rng = np.random.default_rng(SEED + start_step)
    env = Kilns(N_KILNS, rng)
    # a fresh set of firings each session; fast-forward them to a random point of the schedule
    env.t[:] = rng.integers(0, EP_LEN - 1, N_KILNS)
    env.temp = schedule(env.t) + rng.normal(0, 30, N_KILNS)
    s = env.obs()
    hist = []
    for step in range(start_step, stop_step):
        if step < RANDOM_STEPS:
            a = rng.uniform(-1, 1, (N_KILNS, 1)).astype(np.float32)
        else:
            a_mx, _, _ = actor(mx.array(s), mx.random.normal((N_KILNS, 1)))
            a = np.array(a_mx)
        r, done = env.step(a[:, 0])
        s2 = env.obs()
        idx = (ptr + np.arange(N_KILNS)) % cap
        buf["s"][idx], buf["a"][idx], buf["r"][idx], buf["s2"][idx] = s, a, r, s2
        buf["d"][idx] = done.astype(np.float32)
        ptr, size = (ptr + N_KILNS) % cap, min(size + N_KILNS, cap)
        if done.any():
            env.reset_some(done)
            s2 = env.obs()
        s = s2
        if step < RANDOM_STEPS:
            if step % 20 == 0:
                print(f"step {step:4d} | collecting with random damper, replay {size}")
            continue
        for _ in range(UPDATES_PER_STEP):
            j = rng.integers(0, size, BATCH)
            out = update(mx.array(buf["s"][j]), mx.array(buf["a"][j]), mx.array(buf["r"][j]),
                         mx.array(buf["s2"][j]), mx.array(buf["d"][j]))
            mx.eval(out, actor.parameters(), critic.parameters(), critic_t.parameters(),
                    temp.parameters(), opt_a.state, opt_c.state, opt_t.state)
            n_updates += 1
            hist.append([float(x) for x in out])
        if step % 25 == 0 or step == stop_step - 1:
            h = np.mean(hist[-50:], axis=0)
            q1, _ = critic(mx.array(buf["s"][:256]), mx.array(buf["a"][:256]))
            print(f"step {step:4d} | upd {n_updates:4d} | critic {h[0]:.4f} | actor {h[1]:+.3f} | "
                  f"temp-loss {h[2]:+.4f} | alpha {float(mx.exp(temp.log_alpha)[0]):.4f} | "
                  f"logp {h[3]:+.3f} | mean Q {float(q1.mean()):+.3f} | batch reward {r.mean():+.3f}")
    if not resume:
        save_ckpt(CKPT, mods, opts, buf, [stop_step, n_updates, size, ptr])
        print(f"checkpoint written at env step {stop_step} ({n_updates} updates)")
    return actor


def main():
    t0 = time.time()
    shutil.rmtree(CKPT, ignore_errors=True)
    print("== session 1")
    run_session(0, SESSION_SPLIT, resume=False)
    print("== session 2 (fresh process state, rebuilt from checkpoint)")
    actor = run_session(SESSION_SPLIT, TOTAL_STEPS, resume=True)

    def learned(o):
        _, _, a = actor(mx.array(o), mx.zeros((o.shape[0], 1)))
        return np.array(a)[:, 0]

    coin = np.random.default_rng(0)

    def random_policy(o):
        return coin.uniform(-1, 1, o.shape[0])

    def thermostat(o):   # bang-bang on the temperature error
        return np.where(o[:, 0] < 0, 1.0, -1.0)

    print("evaluation (mean return per firing, mean |temp error| at the end in deg C):")
    res = {}
    for name, fn in [("random damper", random_policy), ("thermostat", thermostat), ("soft actor-critic", learned)]:
        ret, err = evaluate(fn)
        res[name] = ret
        print(f"  {name:18s} return {ret:+8.2f}   final |err| {err:6.1f}")
    print(f"SAC beats thermostat: {res['soft actor-critic'] > res['thermostat']}  "
          f"beats random: {res['soft actor-critic'] > res['random damper']}")
    shutil.rmtree(CKPT, ignore_errors=True)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
