# Ferry berth: a hawser winch keeps mooring-line tension near 1.0 while swell
# and wind push the hull. 24 berths simulated in numpy, 3 actions per step
# (pay out / hold / heave in). Synchronous advantage actor-critic with 5-step
# bootstrapped returns. The run is split in two sessions: session A trains,
# writes a checkpoint (weights + optimizer state) and stops; session B builds
# fresh objects, loads the checkpoint and continues.
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_ENV, HORIZON, NSTEP = 24, 60, 5
GAMMA, ENT_COEF, VF_COEF = 0.95, 0.01, 0.5
PEAK_LR, WARMUP = 2e-3, 120
TOTAL_UPDATES, SPLIT_AT = 900, 450
ACTION_DELTA = np.array([-0.08, 0.0, 0.08], dtype=np.float32)


class Berth:
    def __init__(self, n, seed):
        self.rng = np.random.default_rng(seed)
        self.n = n
        self.reset_all()

    def reset_all(self):
        self.tension = self.rng.uniform(0.4, 1.6, self.n).astype(np.float32)
        self.phase = self.rng.uniform(0, 2 * np.pi, self.n).astype(np.float32)
        self.wind = self.rng.uniform(-0.02, 0.02, self.n).astype(np.float32)
        self.t = np.zeros(self.n, dtype=np.int32)

    def obs(self):
        return np.stack([self.tension - 1.0, np.sin(self.phase), np.cos(self.phase),
                         self.wind * 20.0, self.t / HORIZON], axis=1).astype(np.float32)

    def step(self, action):
        swell = 0.05 * np.sin(self.phase)
        self.tension = np.clip(self.tension + ACTION_DELTA[action] + swell + self.wind
                               + self.rng.normal(0, 0.015, self.n), 0.0, 2.5).astype(np.float32)
        self.phase = (self.phase + 0.45) % (2 * np.pi)
        self.t += 1
        err = np.abs(self.tension - 1.0)
        reward = (-err - 0.02 * (action != 1)).astype(np.float32) * 0.5
        done = self.t >= HORIZON
        if done.any():
            idx = np.where(done)[0]
            self.tension[idx] = self.rng.uniform(0.4, 1.6, len(idx))
            self.phase[idx] = self.rng.uniform(0, 2 * np.pi, len(idx))
            self.wind[idx] = self.rng.uniform(-0.02, 0.02, len(idx))
            self.t[idx] = 0
        return reward, done


class ActorCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.pi = nn.Linear(64, 3)
        self.v = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.pi(h), self.v(h)[:, 0]


def lr_at(update):
    return PEAK_LR * min(1.0, update / WARMUP)


def loss_fn(model, obs, actions, returns):
    logits, values = model(obs)
    logp_all = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp = mx.take_along_axis(logp_all, actions[:, None], axis=-1)[:, 0]
    adv = mx.stop_gradient(returns - values)
    adv = (adv - adv.mean()) / (adv.std() + 1e-6)
    pg = -(logp * adv).mean()
    vf = ((returns - values) ** 2).mean()
    ent = -(mx.exp(logp_all) * logp_all).sum(axis=-1).mean()
    return pg + VF_COEF * vf - ENT_COEF * ent, (pg, vf, ent)


def evaluate(policy, seed=123, episodes=2):
    env = Berth(64, seed)
    total = np.zeros(64, dtype=np.float32)
    for _ in range(episodes * HORIZON):
        r, _ = env.step(policy(env.obs()))
        total += r
    return float(total.mean() / episodes)


def greedy_policy(model):
    return lambda o: np.array(mx.argmax(model(mx.array(o))[0], axis=-1))


def rule_policy(o):
    dev = o[:, 0]
    return np.where(dev > 0.1, 0, np.where(dev < -0.1, 2, 1))


def random_policy(o, rng=np.random.default_rng(7)):
    return rng.integers(0, 3, len(o))


def run_session(name, start, stop, ckpt_dir, resume):
    mx.random.seed(11 + start)
    model = ActorCritic()
    opt = optim.Adam(learning_rate=0.0)
    env = Berth(N_ENV, seed=1000 + start)
    if resume:
        model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
        opt.init(model.trainable_parameters())
        saved = mx.load(os.path.join(ckpt_dir, "opt.safetensors"))
        opt.state = tree_unflatten(list(saved.items()))
        meta = np.load(os.path.join(ckpt_dir, "meta.npz"))
        print(f"  resumed_from_update: {int(meta['update'])}")
        print(f"  resumed_opt_step: {int(opt.state['step'].item())}")
        print(f"  resumed_greedy_return: {evaluate(greedy_policy(model)):.3f}"
              f"  # saved value {float(meta['greedy']):.3f}")
    grad_fn = nn.value_and_grad(model, loss_fn)
    window = []
    for update in range(start, stop):
        opt.learning_rate = lr_at(update)
        obs_buf, act_buf, rew_buf, done_buf = [], [], [], []
        for _ in range(NSTEP):
            o = env.obs()
            logits, _ = model(mx.array(o))
            a = np.array(mx.random.categorical(logits))
            r, d = env.step(a)
            obs_buf.append(o); act_buf.append(a); rew_buf.append(r); done_buf.append(d)
            window.append(r.mean())
        _, boot = model(mx.array(env.obs()))
        ret = np.array(boot)
        returns = []
        for r, d in zip(reversed(rew_buf), reversed(done_buf)):
            ret = r + GAMMA * ret * (1.0 - d)
            returns.append(ret)
        returns = returns[::-1]
        obs = mx.array(np.concatenate(obs_buf))
        acts = mx.array(np.concatenate(act_buf).astype(np.int32))
        rets = mx.array(np.concatenate(returns).astype(np.float32))
        (loss, (pg, vf, ent)), grads = grad_fn(model, obs, acts, rets)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if (update + 1) % 75 == 0:
            print(f"  - update: {update + 1}\n    lr: {lr_at(update):.6f}\n"
                  f"    step_reward: {np.mean(window[-300:]):.4f}\n"
                  f"    policy_loss: {pg.item():+.4f}\n    value_loss: {vf.item():.4f}\n"
                  f"    entropy: {ent.item():.4f}", flush=True)
    if not resume:
        model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"),
                            dict(tree_flatten(opt.state)))
        g = evaluate(greedy_policy(model))
        np.savez(os.path.join(ckpt_dir, "meta.npz"), update=stop, greedy=g)
        print(f"  checkpoint_written_at_update: {stop}\n  greedy_return_at_save: {g:.3f}")
    return model


if __name__ == "__main__":
    t0 = time.time()
    print("---\nbaselines:")
    print(f"  random_policy_return: {evaluate(random_policy):.3f}")
    print(f"  rule_policy_return: {evaluate(rule_policy):.3f}")
    with tempfile.TemporaryDirectory() as ckpt:
        print("---\nsession_a:")
        run_session("a", 0, SPLIT_AT, ckpt, resume=False)
        print("---\nsession_b:")
        model = run_session("b", SPLIT_AT, TOTAL_UPDATES, ckpt, resume=True)
    print("---\nfinal:")
    print(f"  greedy_return: {evaluate(greedy_policy(model)):.3f}")
    print(f"  seconds: {time.time() - t0:.1f}")
