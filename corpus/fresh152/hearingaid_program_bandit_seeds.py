"""Hearing-aid fitting lab: learn which of 4 listening programs to switch to
for an acoustic scene (contextual bandit, REINFORCE with a learned baseline).
Reward = simulated word-recognition score in percent, noisy listener responses."""
import json
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PROGRAMS = ["universal", "speech-in-noise", "music", "quiet"]

def scene_batch(rng, n):
    snr = rng.uniform(-5, 20, n)            # dB
    level = rng.uniform(40, 85, n)          # dBA
    music = rng.uniform(0, 1, n)            # music likelihood
    reverb = rng.uniform(0.2, 1.5, n)       # RT60 s
    X = np.stack([(snr - 7.5) / 7.2, (level - 62.5) / 13.0, music * 2 - 1, (reverb - 0.85) / 0.4], 1)
    # expected word score (%) for each program
    base = 55 + 1.6 * snr - 8 * (reverb - 0.85)
    s = np.stack([
        base + 6,
        base + 18 * (snr < 8) - 6 * (snr >= 8) - 10 * music,
        base - 12 + 30 * music,
        base + 14 * (level < 55) - 15 * (level >= 55),
    ], 1)
    return X.astype(np.float32), np.clip(s, 0, 100)

class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(4, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh())
        self.logits = nn.Linear(48, 4)
        self.value = nn.Linear(48, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.logits(h), self.value(h).squeeze(-1)

def run_seed(seed, rounds=600, batch=64):
    rng = np.random.default_rng(seed)
    mx.random.seed(seed)
    pol = Policy()
    mx.eval(pol.parameters())
    opt = optim.RMSprop(learning_rate=2e-3)

    def loss_fn(model, x, a, r, ent_w):
        logits, v = model(x)
        logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        lp_a = mx.take_along_axis(logp, a[:, None], axis=-1).squeeze(-1)
        adv = mx.stop_gradient(r - v)
        ent = -mx.sum(mx.exp(logp) * logp, axis=-1).mean()
        pg = -mx.mean(lp_a * adv)
        vl = mx.mean((r - v) ** 2)
        return pg + 0.5 * vl - ent_w * ent, (pg, vl, ent)

    lg = nn.value_and_grad(pol, lambda m, *a: loss_fn(m, *a)[0])
    state = [pol.state, opt.state]

    def step(x, a, r, ent_w):
        loss, g = lg(pol, x, a, r, ent_w)
        opt.update(pol, g)
        return loss

    # untrained check of gradients
    Xc, Sc = scene_batch(rng, batch)
    ac = mx.array(rng.integers(0, 4, batch)); rc = mx.array((Sc[np.arange(batch), np.array(ac)] / 100).astype(np.float32))
    g = nn.value_and_grad(pol, lambda m, *a: loss_fn(m, *a)[0])(pol, mx.array(Xc), ac, rc, mx.array(0.01))[1]
    from mlx.utils import tree_flatten
    gn = {k: round(float(mx.linalg.norm(v.reshape(-1))), 4) for k, v in tree_flatten(g)}
    print(json.dumps({"seed": seed, "event": "grad_check", "min_norm": min(gn.values()), "n_tensors": len(gn)}))

    step_c = mx.compile(step, inputs=state, outputs=state)
    recent_r, recent_o, recent_u = [], [], []
    t0 = time.time()
    for it in range(1, rounds + 1):
        ent_w = 0.05 * max(0.0, 1 - it / 300)       # entropy bonus annealed to 0
        X, S = scene_batch(rng, batch)
        logits, _ = pol(mx.array(X))
        a = mx.random.categorical(logits)
        an = np.array(a)
        listened = S[np.arange(batch), an] + rng.normal(0, 12, batch)   # noisy listener
        listened = np.clip(listened, 0, 100)
        r = mx.array((listened / 100).astype(np.float32))
        loss = step_c(mx.array(X), a, r, mx.array(ent_w, dtype=mx.float32))
        mx.eval(loss, state)
        recent_r.append(listened.mean()); recent_o.append(S.max(1).mean())
        recent_u.append(S[:, 0].mean())
        if it % 100 == 0:
            print(json.dumps({"seed": seed, "round": it, "word_score_pct": round(float(np.mean(recent_r)), 2),
                              "oracle_pct": round(float(np.mean(recent_o)), 2),
                              "universal_only_pct": round(float(np.mean(recent_u)), 2),
                              "regret_pct": round(float(np.mean(recent_o) - np.mean(recent_r)), 2),
                              "entropy_w": round(ent_w, 4), "loss": round(loss.item(), 4),
                              "sec": round(time.time() - t0, 2)}))
            recent_r, recent_o, recent_u = [], [], []
    # greedy evaluation
    X, S = scene_batch(rng, 4000)
    logits, _ = pol(mx.array(X))
    greedy = np.array(mx.argmax(logits, axis=-1))
    picks = np.bincount(greedy, minlength=4) / 4000
    return float(S[np.arange(4000), greedy].mean()), float(S.max(1).mean()), float(S[:, 0].mean()), picks

summary = []
for seed in (11, 12):
    g, o, u, picks = run_seed(seed)
    summary.append(g)
    print(json.dumps({"seed": seed, "event": "greedy_eval", "word_score_pct": round(g, 2), "oracle_pct": round(o, 2),
                      "universal_only_pct": round(u, 2),
                      "program_share": {p: round(float(s), 3) for p, s in zip(PROGRAMS, picks)}}))
print(json.dumps({"event": "summary", "mean_greedy_word_score_pct": round(float(np.mean(summary)), 2)}))
