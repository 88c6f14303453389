"""Policy-gradient hover controller for a 1-D toy rocket (3 throttle settings),
reported in the layout of a `dig` answer."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

G, DT, T = 9.81, 0.1, 40
THRUST = np.array([0.0, 9.81, 16.0])        # off / hover / boost (m/s^2)
TARGET = 10.0

def policy_init():
    return nn.Sequential(nn.Linear(4, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh(), nn.Linear(48, 3))

def features(h, v, t):
    return np.stack([(h - TARGET) / 5.0, v / 5.0, t / T, np.ones_like(h)], axis=1).astype(np.float32)

def rollout(policy, n, rng, greedy=False):
    h = rng.uniform(2.0, 18.0, n); v = rng.normal(0.0, 1.5, n)
    obs, acts, rews = [], [], []
    for t in range(T):
        f = features(h, v, np.full(n, t, dtype=np.float64))
        logits = policy(mx.array(f))
        a = mx.argmax(logits, axis=1) if greedy else mx.random.categorical(logits)
        a = np.array(a)
        acc = THRUST[a] - G + rng.normal(0.0, 0.8, n)   # gusts
        v = v + acc * DT
        h = np.maximum(h + v * DT, 0.0)
        v = np.where(h <= 0.0, np.maximum(v, 0.0), v)
        r = -np.abs(h - TARGET) / 10.0 - 0.02 * (a == 2)
        obs.append(f); acts.append(a); rews.append(r)
    return np.stack(obs), np.stack(acts), np.stack(rews), h

def returns_to_go(rews, gamma=0.97):
    out = np.zeros_like(rews); run = np.zeros(rews.shape[1])
    for t in range(rews.shape[0] - 1, -1, -1):
        run = rews[t] + gamma * run; out[t] = run
    return out

def main():
    t0 = time.time()
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    policy = policy_init()
    mx.eval(policy.parameters())

    def pg_loss(pol, obs, acts, adv):
        logits = pol(obs)
        logp = -nn.losses.cross_entropy(logits, acts, reduction="none")
        ent = -mx.sum(mx.softmax(logits, -1) * nn.log_softmax(logits, -1), -1)
        return -mx.mean(logp * adv) - 0.01 * mx.mean(ent)

    vg = nn.value_and_grad(policy, pg_loss)
    opt = optim.RMSprop(learning_rate=3e-3, alpha=0.95)

    print("; <<>> DiG 9.18.24 <<>> hover.policy.local ANY")
    print(";; global options: +cmd")
    baseline = None
    n_ep, iters = 64, 150
    for it in range(1, iters + 1):
        obs, acts, rews, hend = rollout(policy, n_ep, rng)
        ret = returns_to_go(rews)
        adv = (ret - ret.mean(axis=1, keepdims=True)) / (ret.std(axis=1, keepdims=True) + 1e-6)
        O = mx.array(obs.reshape(-1, 4)); A = mx.array(acts.reshape(-1).astype(np.int32))
        ADV = mx.array(adv.reshape(-1).astype(np.float32))
        loss, g = vg(policy, O, A, ADV)
        if it == 1:
            leaves = tree_flatten(g)
            zero = sum(float(mx.abs(x).max()) == 0.0 for _, x in leaves)
            print(f";; Got answer:\n;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: {len(leaves)}")
            print(f";; flags: qr rd ra; GRADLEAVES: {len(leaves)}, ZERO: {zero}, LOSS0: {loss.item():.4f}")
            print(";; ANSWER SECTION:")
        opt.update(policy, g)
        mx.eval(policy.parameters(), opt.state, loss)
        ep_ret = rews.sum(axis=0).mean()
        baseline = ep_ret if baseline is None else 0.9 * baseline + 0.1 * ep_ret
        if it % 15 == 0 or it == 1:
            boost = float((acts == 2).mean())
            print(f"iter{it:04d}.hover.policy. {int(time.time()-t0):d} IN TXT "
                  f"\"return={ep_ret:.3f}\" \"ema_return={baseline:.3f}\" "
                  f"\"final_err_m={np.abs(hend-TARGET).mean():.2f}\" \"boost_frac={boost:.2f}\"")

    _, _, grews, ghend = rollout(policy, 256, np.random.default_rng(99), greedy=True)
    _, _, rr, rhend = rollout(lambda x: mx.zeros((x.shape[0], 3)), 256, np.random.default_rng(99))
    print("\n;; ADDITIONAL SECTION:")
    print(f"greedy.hover.policy. 0 IN TXT \"return={grews.sum(0).mean():.3f}\" \"final_err_m={np.abs(ghend-TARGET).mean():.2f}\"")
    print(f"random.hover.policy. 0 IN TXT \"return={rr.sum(0).mean():.3f}\" \"final_err_m={np.abs(rhend-TARGET).mean():.2f}\"")
    print(f"\n;; Query time: {int((time.time()-t0)*1000)} msec")
    print(";; SERVER: 127.0.0.1#53(127.0.0.1) (UDP)")

if __name__ == "__main__":
    main()
