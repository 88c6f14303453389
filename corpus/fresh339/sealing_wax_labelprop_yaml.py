"""Archive desk: which seal matrix pressed this wax impression?

Transductive few-shot matching (a small take on Liu et al.'s Transductive
Propagation Network): support and query impressions of one episode are embedded
together, a Gaussian affinity graph is built over all of them with a learned
bandwidth, and the support labels are spread over the graph by a set number of
propagation sweeps  F <- a * S F + (1 - a) * Y.  The loss is the cross entropy of
the propagated query scores.

Training is quiet; a YAML document is written only at the three checkpoints of
the step-decay schedule and at the end.  The same embedding is also scored
inductively (nearest class mean, no graph) as a reference beside the graph
result.
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_FEAT = 12
N_SEALS_TRAIN = 40
N_SEALS_HELD = 15
IMPRESSIONS = 24
WAY, SHOT, QUERY = 5, 2, 8
EPISODES = 900
SWEEPS = 12
ALPHA = 0.5
REPORT_AT = (300, 600, 900)
EVAL_EPISODES = 150


def make_archive(seed):
    rng = np.random.default_rng(seed)
    k = 5
    proj = rng.normal(0, 1.0, (k, 20))
    out = rng.normal(0, 1.0 / math.sqrt(20), (20, N_FEAT))
    n = N_SEALS_TRAIN + N_SEALS_HELD
    centre = rng.normal(0, 1.0, (n, k))
    bank = np.zeros((n, IMPRESSIONS, N_FEAT), dtype=np.float32)
    for s in range(n):
        z = centre[s] + 0.6 * rng.normal(size=(IMPRESSIONS, k))
        pressure = rng.uniform(0.8, 1.25, size=(IMPRESSIONS, 1))   # how hard it was pressed
        smear = rng.normal(0, 0.25, size=(IMPRESSIONS, 1))           # sideways smear, shared shift
        x = np.tanh(z @ proj) @ out * pressure + smear
        bank[s] = x + 0.1 * rng.normal(size=x.shape)
    flat = bank[:N_SEALS_TRAIN].reshape(-1, N_FEAT)
    bank = (bank - flat.mean(0)) / (flat.std(0) + 1e-6)
    return bank[:N_SEALS_TRAIN], bank[N_SEALS_TRAIN:]


class Impression(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 24)
        self.log_bw = mx.array(0.0)  # graph bandwidth, learned

    def embed(self, x):
        return self.l3(nn.gelu(self.l2(nn.gelu(self.l1(x)))))

    def propagate(self, z, y_support, n_support):
        d2 = mx.sum((z[:, None, :] - z[None, :, :]) ** 2, axis=-1)
        bw = mx.exp(self.log_bw)
        w = mx.exp(-d2 / (2.0 * bw * bw * z.shape[-1]))
        w = w * (1.0 - mx.eye(z.shape[0]))
        dinv = mx.rsqrt(mx.sum(w, axis=1) + 1e-8)
        s = dinv[:, None] * w * dinv[None, :]
        y0 = mx.concatenate(
            [y_support, mx.zeros((z.shape[0] - n_support, y_support.shape[1]))], axis=0
        )
        f = y0
        for _ in range(SWEEPS):
            f = ALPHA * (s @ f) + (1.0 - ALPHA) * y0
        return f[n_support:]

    def __call__(self, support, query):
        n_s = support.shape[0]
        z = self.embed(mx.concatenate([support, query], axis=0))
        y_s = (mx.arange(n_s)[:, None] // SHOT == mx.arange(WAY)[None, :]).astype(mx.float32)
        scores = self.propagate(z, y_s, n_s)
        return mx.log(scores + 1e-6)


def episode(bank, rng):
    cls = rng.choice(bank.shape[0], size=WAY, replace=False)
    sup, qry, lab = [], [], []
    for i, c in enumerate(cls):
        idx = rng.choice(bank.shape[1], size=SHOT + QUERY, replace=False)
        sup.append(bank[c, idx[:SHOT]])
        qry.append(bank[c, idx[SHOT:]])
        lab += [i] * QUERY
    return mx.array(np.concatenate(sup)), mx.array(np.concatenate(qry)), mx.array(np.array(lab))


def loss_fn(model, sup, qry, lab):
    logits = model(sup, qry)
    logits = logits - mx.logsumexp(logits, axis=1, keepdims=True)
    return nn.losses.cross_entropy(logits, lab, reduction="mean")


def score(model, bank, seed):
    rng = np.random.default_rng(seed)
    graph, mean_rule = [], []
    for _ in range(EVAL_EPISODES):
        s, q, y = episode(bank, rng)
        graph.append(mx.mean(mx.argmax(model(s, q), axis=1) == y).item())
        zs = model.embed(s).reshape(WAY, SHOT, -1).mean(1)
        zq = model.embed(q)
        d = mx.sum((zq[:, None, :] - zs[None]) ** 2, axis=-1)
        mean_rule.append(mx.mean(mx.argmin(d, axis=1) == y).item())
    return 100 * float(np.mean(graph)), 100 * float(np.mean(mean_rule))


def yaml_doc(title, fields):
    print("---")
    print(f"report: {title}")
    for k, v in fields.items():
        print(f"{k}: {v}")


def main():
    mx.random.seed(12)
    train_bank, held_bank = make_archive(seed=77)
    model = Impression()
    mx.eval(model.parameters())
    sched = optim.step_decay(0.05, 0.3, 300)
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)
    step = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(5)

    g0, m0 = score(model, held_bank, seed=404)
    yaml_doc("setup", {
        "seals_train": N_SEALS_TRAIN, "seals_held_out": N_SEALS_HELD,
        "episode": f"{WAY}-way {SHOT}-shot {QUERY}-query (queries unlabelled in the graph)",
        "propagation": f"{SWEEPS} sweeps, alpha {ALPHA}",
        "chance_acc_pct": 20.0, "chance_xent_nats": round(math.log(WAY), 4),
        "untrained_graph_acc_pct": round(g0, 1), "untrained_mean_rule_acc_pct": round(m0, 1),
    })

    window, gnorms = [], []
    t0 = time.perf_counter()
    for ep in range(1, EPISODES + 1):
        s, q, y = episode(train_bank, rng)
        loss, grads = step(model, s, q, y)
        grads, gn = optim.clip_grad_norm(grads, 5.0)
        if ep == 1:
            leaves = tree_flatten(grads)
            dead = sum(1 for _, g in leaves if float(mx.max(mx.abs(g)).item()) == 0.0)
            yaml_doc("gradient_check", {"leaves": len(leaves), "all_zero_leaves": dead,
                                         "bandwidth_grad": f"{float(grads['log_bw'].item()):+.4f}"})
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, gn)
        window.append(loss.item())
        gnorms.append(gn.item())
        if ep in REPORT_AT:
            g_acc, m_acc = score(model, held_bank, seed=404)
            yaml_doc(f"episode_{ep}", {
                "lr_next": f"{float(sched(ep)):.4g}",
                "xent_mean": round(float(np.mean(window)), 4),
                "xent_min": round(float(np.min(window)), 4),
                "xent_max": round(float(np.max(window)), 4),
                "grad_norm_median": round(float(np.median(gnorms)), 3),
                "bandwidth": round(float(mx.exp(model.log_bw).item()), 4),
                "held_graph_acc_pct": round(g_acc, 1),
                "held_mean_rule_acc_pct": round(m_acc, 1),
                "seconds": round(time.perf_counter() - t0, 1),
            })
            window, gnorms = [], []
    yaml_doc("done", {"episodes": EPISODES, "final_held_graph_acc_pct": round(g_acc, 1)})
    print("...")


if __name__ == "__main__":
    main()
