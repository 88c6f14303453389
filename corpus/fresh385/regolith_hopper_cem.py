"""Vertical soft-landing of a small lunar hopper: a throttle policy (tiny MLP,
weights in one flat vector) is found by the cross-entropy method against a
batched simulator. No gradients: each generation samples candidate weight
vectors, scores them on the same drop conditions and refits the sampling
Gaussian to the best ones. Scores are negative costs (closer to 0 is better).
The search state is checkpointed half-way and resumed from disk."""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx

G_MOON, DT, STEPS = 1.62, 0.1, 80
THRUST_ACC = 4.0
SIZES = [(3, 12), (12, 1)]
N_PARAMS = sum(i * o + o for i, o in SIZES)


def unpack(theta):
    out, k = [], 0
    for i, o in SIZES:
        w = theta[..., k:k + i * o].reshape(*theta.shape[:-1], i, o)
        k += i * o
        b = theta[..., k:k + o]
        k += o
        out.append((w, b))
    return out


def simulate(throttle_fn, h0, v0):
    h, v = h0, v0
    fuel = mx.zeros_like(h)
    alive = mx.ones_like(h)
    touch_v = mx.zeros_like(h)
    for _ in range(STEPS):
        u = throttle_fn(h, v)
        v_new = v + DT * (THRUST_ACC * u - G_MOON)
        h_new = h + DT * v_new
        landed_now = alive * (h_new <= 0)
        touch_v = touch_v + landed_now * v_new
        fuel = fuel + alive * u * DT
        alive = alive * (h_new > 0)
        h = mx.where(alive > 0, h_new, 0.0)
        v = mx.where(alive > 0, v_new, 0.0)
    cost = touch_v ** 2 + 0.5 * fuel + alive * (5.0 + h)
    return -cost, touch_v, alive


def population_policy(thetas):
    (w1, b1), (w2, b2) = unpack(thetas)

    def f(h, v):
        feats = mx.stack([h / 10.0, v / 5.0, mx.ones_like(h)], axis=-1)
        z = mx.tanh(mx.einsum("pnf,pfo->pno", feats, w1) + b1[:, None, :])
        return mx.sigmoid(mx.einsum("pno,pok->pnk", z, w2)[..., 0] + b2)
    return f


def rule_policy(h, v):
    need = v * v / (2 * mx.maximum(h, 0.05))
    return mx.clip((need + G_MOON) / THRUST_ACC * (v < -0.5), 0.0, 1.0)


def drops(rng, n):
    return (mx.array(rng.uniform(6.0, 14.0, n).astype(np.float32)),
            mx.array(rng.uniform(-3.0, 0.0, n).astype(np.float32)))


def evaluate_mean(mu, h0, v0):
    score, tv, alive = simulate(population_policy(mu[None]), h0[None], v0[None])
    return score.mean().item(), mx.abs(tv).mean().item(), 100.0 * (1 - alive.mean().item())


class CEMSearch:
    def __init__(self, pop=96, elite=12, sigma0=1.0, smooth=0.7):
        self.pop, self.elite, self.smooth = pop, elite, smooth
        self.mu = mx.zeros((N_PARAMS,))
        self.sigma = mx.full((N_PARAMS,), sigma0)
        self.gen = 0

    def extra_noise(self):
        return max(0.05 * (1 - self.gen / 40), 0.0)

    def step(self, h0, v0):
        eps = mx.random.normal((self.pop, N_PARAMS))
        thetas = self.mu + self.sigma * eps
        score, _, _ = simulate(population_policy(thetas), mx.broadcast_to(h0, (self.pop, h0.size)),
                               mx.broadcast_to(v0, (self.pop, v0.size)))
        fitness = score.mean(axis=1)
        order = mx.argsort(-fitness)[: self.elite]
        elite = thetas[order]
        new_mu = elite.mean(axis=0)
        new_sigma = mx.sqrt(elite.var(axis=0) + self.extra_noise())
        self.mu = self.smooth * new_mu + (1 - self.smooth) * self.mu
        self.sigma = self.smooth * new_sigma + (1 - self.smooth) * self.sigma
        self.gen += 1
        mx.eval(self.mu, self.sigma, fitness)
        return fitness.mean().item(), fitness[order].mean().item()

    def save(self, path):
        mx.savez(path, mu=self.mu, sigma=self.sigma, gen=mx.array(self.gen))

    @classmethod
    def load(cls, path, **kw):
        obj = cls(**kw)
        d = mx.load(path)
        obj.mu, obj.sigma, obj.gen = d["mu"], d["sigma"], int(d["gen"].item())
        return obj


def main():
    mx.random.seed(5)
    rng = np.random.default_rng(5)
    hv, vv = drops(np.random.default_rng(2024), 200)
    ref = simulate(rule_policy, hv, vv)
    ref_score = ref[0].mean().item()
    print(f"hopper: params={N_PARAMS} drops/gen=24 val_drops=200 rule_score={ref_score:.3f} "
          f"rule_touchdown={mx.abs(ref[1]).mean().item():.2f}m/s")
    search = CEMSearch()
    s, tv, landed = evaluate_mean(search.mu, hv, vv)
    print(f"gen   0 | val {s:8.3f} | touchdown {tv:5.2f} m/s | landed {landed:5.1f}% | untrained")
    ckpt_dir = tempfile.mkdtemp()
    t0 = time.perf_counter()
    for phase in (1, 2):
        if phase == 2:
            path = os.path.join(ckpt_dir, "cem_state.npz")
            search.save(path)
            del search
            search = CEMSearch.load(path)
            s2, _, _ = evaluate_mean(search.mu, hv, vv)
            print(f"-- checkpoint written and reloaded at gen {search.gen}; val after reload {s2:.3f}")
        for _ in range(30):
            h0, v0 = drops(rng, 24)
            pop_mean, elite_mean = search.step(h0, v0)
            if search.gen % 5 == 0 or search.gen == 1:
                s, tv, landed = evaluate_mean(search.mu, hv, vv)
                print(f"gen {search.gen:3d} | pop {pop_mean:9.3f} | elite {elite_mean:8.3f} | val {s:8.3f} "
                      f"| vs rule {s - ref_score:+7.3f} | touchdown {tv:5.2f} m/s | landed {landed:5.1f}% "
                      f"| sigma {search.sigma.mean().item():.3f} | {time.perf_counter() - t0:5.1f}s")
    s, tv, landed = evaluate_mean(search.mu, hv, vv)
    print(f"final: val {s:.3f} (rule {ref_score:.3f}), touchdown {tv:.2f} m/s, landed {landed:.1f}%")


if __name__ == "__main__":
    main()
