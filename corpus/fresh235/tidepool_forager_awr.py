"""Offline advantage-weighted regression (AWR) on logged tide-pool walks.

A forager moves left / waits / moves right along 8 pools (20% of moves
slip and leave it in place), pays 0.05 per step and gets +1 on reaching
the far pool, which ends the walk. Walks were logged once with a uniform
random policy; nothing new is collected while fitting.

value net:  V(s) regressed on discounted Monte-Carlo returns (MSE)
policy net: weighted NLL of the logged action, weight exp(adv / beta) capped at 20

Output is INI-style sections, one per checkpoint; the fit itself is silent.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_POOLS, HORIZON, GAMMA, SLIP, STEP_COST = 8, 20, 0.95, 0.2, 0.05
BETA, W_MAX = 0.3, 20.0
rng = np.random.default_rng(11)


def features(pos, t):
    onehot = np.eye(N_POOLS, dtype=np.float32)[pos]
    frac = np.asarray(t, dtype=np.float32)[..., None] / HORIZON
    return np.concatenate([onehot, frac], axis=-1)


def env_step(pos, action):
    move = action - 1
    slip = rng.random(pos.shape) < SLIP
    new = np.clip(pos + np.where(slip, 0, move), 0, N_POOLS - 1)
    done = new == N_POOLS - 1
    reward = np.where(done, 1.0, -STEP_COST)
    return new, reward, done


def rollout(policy_fn, n_walks):
    pos = rng.integers(0, 5, size=n_walks)
    alive = np.ones(n_walks, dtype=bool)
    total = np.zeros(n_walks)
    for t in range(HORIZON):
        a = policy_fn(pos, np.full(n_walks, t))
        new, r, d = env_step(pos, a)
        total += np.where(alive, r * GAMMA ** t, 0.0)
        pos = np.where(alive, new, pos)
        alive &= ~d
    return total.mean()


def log_dataset(n_walks):
    S, A, G = [], [], []
    for _ in range(n_walks):
        pos = np.array([rng.integers(0, 5)])
        traj = []
        for t in range(HORIZON):
            a = rng.integers(0, 3, size=1)
            new, r, d = env_step(pos, a)
            traj.append((pos[0], t, a[0], r[0]))
            pos = new
            if d[0]:
                break
        g = 0.0
        for p, t, a, r in reversed(traj):
            g = r + GAMMA * g
            S.append(features(p, t))
            A.append(a)
            G.append(g)
    return np.stack(S), np.array(A, dtype=np.int32), np.array(G, dtype=np.float32)


def mlp(out):
    return nn.Sequential(nn.Linear(N_POOLS + 1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, out))


def main():
    mx.random.seed(3)
    S, A, G = log_dataset(2000)
    S_mx, A_mx, G_mx = mx.array(S), mx.array(A), mx.array(G)
    n = S.shape[0]

    value, policy = mlp(1), mlp(3)
    mx.eval(value.parameters(), policy.parameters())
    v_opt, p_opt = optim.Adam(1e-3), optim.Adam(1e-3)

    def v_loss(model, s, g):
        return ((model(s).squeeze(-1) - g) ** 2).mean()

    def p_loss(model, s, a, w):
        logp = nn.log_softmax(model(s), axis=-1)
        nll = -mx.take_along_axis(logp, a[:, None], axis=-1).squeeze(-1)
        return (w * nll).sum() / w.sum()

    v_vg = nn.value_and_grad(value, v_loss)
    p_vg = nn.value_and_grad(policy, p_loss)

    def greedy(pos, t):
        logits = policy(mx.array(features(pos, t)))
        return np.array(mx.argmax(logits, axis=-1))

    random_ret = rollout(lambda p, t: rng.integers(0, 3, size=p.shape), 4000)
    right_ret = rollout(lambda p, t: np.full(p.shape, 2), 4000)
    print("[setup]")
    print(f"logged_transitions = {n}")
    print(f"logged_return_mean = {G.mean():.4f}")
    print(f"return_uniform_random = {random_ret:.4f}")
    print(f"return_always_right = {right_ret:.4f}")
    print(f"return_mse_of_constant_guess = {G.var():.4f}")

    checkpoints = {0, 25, 75, 200, 350, 500}
    bs = 512
    for it in range(501):
        if it in checkpoints:
            v_all = v_loss(value, S_mx, G_mx).item()
            adv = G_mx - value(S_mx).squeeze(-1)
            w = mx.minimum(mx.exp(adv / BETA), W_MAX)
            p_all = p_loss(policy, S_mx, A_mx, w).item()
            ret = rollout(greedy, 4000)
            right_frac = float((greedy(np.arange(N_POOLS - 1), np.zeros(N_POOLS - 1)) == 2).mean())
            print(f"[iter {it}]")
            print(f"value_mse = {v_all:.4f}")
            print(f"weighted_nll = {p_all:.4f}")
            print(f"weight_capped_frac = {(w >= W_MAX).astype(mx.float32).mean().item():.4f}")
            print(f"greedy_return = {ret:.4f}")
            print(f"greedy_moves_right_frac = {right_frac:.3f}")
        if it == 500:
            break
        idx = mx.array(rng.integers(0, n, size=bs))
        s, a, g = S_mx[idx], A_mx[idx], G_mx[idx]
        vl, vgr = v_vg(value, s, g)
        v_opt.update(value, vgr)
        adv = mx.stop_gradient(g - value(s).squeeze(-1))
        w = mx.minimum(mx.exp(adv / BETA), W_MAX)
        pl, pgr = p_vg(policy, s, a, w)
        p_opt.update(policy, pgr)
        mx.eval(value.parameters(), policy.parameters(), v_opt.state, p_opt.state, vl, pl)

    print("[summary]")
    print(f"greedy_return_final = {ret:.4f}")
    print(f"gap_closed_vs_random_to_always_right = {(ret - random_ret) / (right_ret - random_ret):.3f}")


if __name__ == "__main__":
    main()
