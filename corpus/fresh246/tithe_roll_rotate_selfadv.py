"""Tithe-roll knowledge graph: RotatE link prediction.

Entities are parishes, manors, tenants, mills and crop strips from a made-up
medieval tithe roll; six relations (pays_tithe_to, holds_strip_in, grinds_at,
neighbour_of, sublets_to, owes_service_to).  The facts are produced by a hidden
rotation model, so a RotatE scorer can recover them.

Training (Sun et al. 2019): margin gamma, 32 tail corruptions per fact,
loss = -log sig(gamma - d_pos) - sum_i w_i log sig(d_neg_i - gamma).
Stage "plain": uniform weights w_i = 1/32.
Stage "adv":   self-adversarial weights w_i = softmax(alpha * -d_neg_i), held
               with stop_gradient, so the hardest corruptions dominate.
Between the stages the run is checkpointed to disk and resumed into a fresh
model and a fresh optimizer object.

Output lines use the Prometheus text exposition format.
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_ENT = 360
N_REL = 6
K_TRUE = 10
K = 24            # complex dimensions of the learned model
GAMMA = 6.0
N_NEG = 32
BATCH = 256
STEPS_PLAIN = 700
STEPS_ADV = 700
ALPHA = 1.0
PEAK_LR = 0.05


def make_graph(seed=7):
    rng = np.random.default_rng(seed)
    ph_e = rng.uniform(-math.pi, math.pi, size=(N_ENT, K_TRUE))
    ph_r = rng.uniform(-math.pi, math.pi, size=(N_REL, K_TRUE))
    triples = []
    for r in range(N_REL):
        rot = ph_e + ph_r[r]                      # (N, K_TRUE)
        # distance from every rotated head to every entity on the torus
        diff = np.abs(np.angle(np.exp(1j * (rot[:, None, :] - ph_e[None, :, :]))))
        d = diff.sum(-1)
        np.fill_diagonal(d, np.inf)
        tails = d.argmin(1)
        for h in range(N_ENT):
            triples.append((h, r, int(tails[h])))
    triples = np.array(sorted(set(triples)), dtype=np.int32)
    rng.shuffle(triples)
    n_test = 240
    return triples[n_test:], triples[:n_test], triples


class RotatE(nn.Module):
    def __init__(self, n_ent, n_rel, k, gamma):
        super().__init__()
        bound = (gamma + 2.0) / k
        self.ent = nn.Embedding(n_ent, 2 * k)
        self.rel = nn.Embedding(n_rel, k)
        self.ent.weight = mx.random.uniform(-bound, bound, (n_ent, 2 * k))
        self.rel.weight = mx.random.uniform(-math.pi, math.pi, (n_rel, k))
        self._k = k

    def rotate(self, h, r):
        e = self.ent(h)
        re, im = e[..., : self._k], e[..., self._k:]
        ph = self.rel(r)
        c, s = mx.cos(ph), mx.sin(ph)
        return re * c - im * s, re * s + im * c

    def dist(self, hr, t):
        re, im = hr
        e = self.ent(t)
        dr = re - e[..., : self._k]
        di = im - e[..., self._k:]
        return mx.sqrt(dr * dr + di * di + 1e-9).sum(-1)


def loss_fn(model, h, r, t, neg, alpha):
    hr = model.rotate(h, r)
    d_pos = model.dist(hr, t)                                   # (B,)
    hr_b = (hr[0][:, None, :], hr[1][:, None, :])
    d_neg = model.dist(hr_b, neg)                               # (B, N_NEG)
    w = mx.stop_gradient(mx.softmax(-alpha * d_neg, axis=-1))
    pos_term = -nn.log_sigmoid(GAMMA - d_pos)
    neg_term = -(w * nn.log_sigmoid(d_neg - GAMMA)).sum(-1)
    return (pos_term + neg_term).mean()


def filtered_rank_eval(model, test, known_tails):
    h = mx.array(test[:, 0])
    r = mx.array(test[:, 1])
    hr = model.rotate(h, r)
    all_e = mx.arange(N_ENT)
    hr_b = (hr[0][:, None, :], hr[1][:, None, :])
    d = model.dist(hr_b, all_e[None, :])                         # (T, N_ENT)
    d = np.array(d)
    ranks = []
    for i, (hh, rr, tt) in enumerate(test):
        row = d[i].copy()
        for other in known_tails[(int(hh), int(rr))]:
            if other != tt:
                row[other] = np.inf
        ranks.append(1 + int((row < row[tt]).sum()))
    ranks = np.array(ranks, dtype=np.float64)
    return float((1.0 / ranks).mean()), float((ranks <= 10).mean())


def metric(name, value, **labels):
    lab = ",".join(f'{k}="{v}"' for k, v in labels.items())
    print(f"tithe_{name}{{{lab}}} {value:.6g}")


def make_schedule(steps):
    warm = 100
    return optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, warm),
         optim.cosine_decay(PEAK_LR, steps - warm, 0.002)],
        [warm],
    )


def run_stage(model, opt, sched, name, steps, alpha, train, rng, test, known_tails, t0):
    step_fn = nn.value_and_grad(model, loss_fn)
    window = []
    for step in range(1, steps + 1):
        idx = rng.integers(0, len(train), size=BATCH)
        b = train[idx]
        neg = rng.integers(0, N_ENT, size=(BATCH, N_NEG))
        h, r, t = mx.array(b[:, 0]), mx.array(b[:, 1]), mx.array(b[:, 2])
        lr_now = float(sched(opt.step))   # rate applied by this update
        loss, grads = step_fn(model, h, r, t, mx.array(neg), alpha)
        if step == 1:
            leaves = tree_flatten(grads)
            nz = sum(int(mx.any(g != 0).item()) for _, g in leaves)
            metric("grad_leaves_nonzero", nz, stage=name, total=len(leaves))
            metric("lr", lr_now, stage=name, step=step)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 140 == 0:
            mrr, h10 = filtered_rank_eval(model, test, known_tails)
            metric("loss_window_mean", float(np.mean(window)), stage=name, step=step)
            metric("lr", lr_now, stage=name, step=step)
            metric("test_mrr", mrr, stage=name, step=step)
            metric("test_hits_at_10", h10, stage=name, step=step)
            metric("elapsed_seconds", time.time() - t0, stage=name, step=step)
            window = []


def main():
    t0 = time.time()
    mx.random.seed(11)
    rng = np.random.default_rng(3)
    train, test, all_triples = make_graph()
    known_tails = {}
    for hh, rr, tt in all_triples:
        known_tails.setdefault((int(hh), int(rr)), set()).add(int(tt))
    print("# HELP tithe_* RotatE on a synthetic tithe-roll graph")
    metric("entities", N_ENT)
    metric("relations", N_REL)
    metric("train_facts", len(train))
    metric("test_facts", len(test))
    # reference: expected MRR of a uniformly random ranking over the entities
    metric("random_ranking_mrr", float(np.mean(1.0 / np.arange(1, N_ENT + 1))))

    model = RotatE(N_ENT, N_REL, K, GAMMA)
    mx.eval(model.parameters())
    mrr, h10 = filtered_rank_eval(model, test, known_tails)
    metric("test_mrr", mrr, stage="init", step=0)
    metric("test_hits_at_10", h10, stage="init", step=0)

    sched = make_schedule(STEPS_PLAIN)
    opt = optim.Adam(learning_rate=sched)
    run_stage(model, opt, sched, "plain", STEPS_PLAIN, 0.0, train, rng, test, known_tails, t0)

    # checkpoint, then resume into fresh objects
    with tempfile.TemporaryDirectory() as d:
        model.save_weights(os.path.join(d, "rotate.safetensors"))
        mx.save_safetensors(os.path.join(d, "adam.safetensors"),
                            dict(tree_flatten(opt.state)))
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump({"stage": "plain", "steps": STEPS_PLAIN}, f)
        ref = np.array(model.ent.weight)
        del model, opt
        model = RotatE(N_ENT, N_REL, K, GAMMA)
        model.load_weights(os.path.join(d, "rotate.safetensors"))
        restored = tree_unflatten(list(mx.load(os.path.join(d, "adam.safetensors")).items()))
        mx.eval(model.parameters())
        metric("resume_max_abs_diff", float(np.abs(np.array(model.ent.weight) - ref).max()))
        metric("resume_adam_step", int(restored["step"].item()))
    mrr, h10 = filtered_rank_eval(model, test, known_tails)
    metric("test_mrr", mrr, stage="resumed", step=0)

    # second stage: new schedule (warm-up from 0 again), Adam moments carried over
    sched = make_schedule(STEPS_ADV)
    opt = optim.Adam(learning_rate=sched)
    restored["step"] = mx.array(0, dtype=restored["step"].dtype)
    restored["learning_rate"] = sched(restored["step"])
    opt.state = restored
    run_stage(model, opt, sched, "adv", STEPS_ADV, ALPHA, train, rng, test, known_tails, t0)

    mrr, h10 = filtered_rank_eval(model, test, known_tails)
    metric("final_test_mrr", mrr)
    metric("final_test_hits_at_10", h10)
    metric("elapsed_seconds", time.time() - t0, stage="done")


if __name__ == "__main__":
    main()
