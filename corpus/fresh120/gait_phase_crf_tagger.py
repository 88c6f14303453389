"""Gait-phase tagging from a shoe IMU: each 10 ms frame gets one of 4 phases
(heel-strike, stance, toe-off, swing). A linear-chain CRF on top of a small
emission network. The first layer is a fixed random projection of the raw IMU
channels, frozen on purpose; the emission MLP, transitions and start scores train.
"""
import logging
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

log = logging.getLogger("gaitcrf")
logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(relativeCreated)7.0fms %(levelname)-5s %(message)s")

N_TAGS, N_CH, T = 4, 9, 24
PHASES = ["heel", "stance", "toeoff", "swing"]


class Cfg:
    epochs = 10
    batch = 32
    peak_lr = 3e-3
    warmup_steps = 60
    report_every = 50


def simulate(n_seq, means, rng):
    # sticky cyclic phase chain: heel -> stance -> toeoff -> swing -> heel
    stay = np.array([0.55, 0.8, 0.55, 0.75])
    xs = np.zeros((n_seq, T, N_CH), np.float32)
    ys = np.zeros((n_seq, T), np.int32)
    for s in range(n_seq):
        tag = rng.integers(N_TAGS)
        for t in range(T):
            if t > 0 and rng.random() > stay[tag]:
                tag = (tag + 1) % N_TAGS
            ys[s, t] = tag
            xs[s, t] = means[tag] + 1.6 * rng.normal(size=N_CH)
    return xs, ys


class CRFTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(N_CH, 32)          # fixed random features (frozen below)
        self.emit1 = nn.Linear(32 * 3, 48)       # sees frames t-1, t, t+1
        self.emit2 = nn.Linear(48, N_TAGS)
        self.trans = mx.zeros((N_TAGS, N_TAGS))  # trans[i, j]: score of i -> j
        self.start = mx.zeros((N_TAGS,))

    def emissions(self, x):
        h = mx.tanh(self.proj(x))                                  # (B, T, 32)
        pad = mx.zeros_like(h[:, :1])
        prev = mx.concatenate([pad, h[:, :-1]], axis=1)
        nxt = mx.concatenate([h[:, 1:], pad], axis=1)
        h = nn.relu(self.emit1(mx.concatenate([prev, h, nxt], axis=-1)))
        return self.emit2(h)                                       # (B, T, K)

    def log_partition(self, em):
        alpha = self.start + em[:, 0]                              # (B, K)
        for t in range(1, em.shape[1]):
            alpha = mx.logsumexp(alpha[:, :, None] + self.trans[None], axis=1) + em[:, t]
        return mx.logsumexp(alpha, axis=1)

    def gold_score(self, em, y):
        s = self.start[y[:, 0]]
        s = s + mx.take_along_axis(em, y[..., None], axis=-1).squeeze(-1).sum(1)
        s = s + self.trans[y[:, :-1], y[:, 1:]].sum(1)
        return s

    def viterbi(self, em):
        em = np.array(em)
        trans, start = np.array(self.trans), np.array(self.start)
        B = em.shape[0]
        score = start + em[:, 0]
        back = np.zeros((B, T, N_TAGS), np.int64)
        for t in range(1, T):
            cand = score[:, :, None] + trans[None]
            back[:, t] = cand.argmax(1)
            score = cand.max(1) + em[:, t]
        path = np.zeros((B, T), np.int64)
        path[:, -1] = score.argmax(1)
        for t in range(T - 1, 0, -1):
            path[:, t - 1] = back[np.arange(B), t, path[:, t]]
        return path


def nll_per_frame(model, x, y):
    em = model.emissions(x)
    return (model.log_partition(em) - model.gold_score(em, y)).mean() / T


def frame_error_pct(model, x, y):
    pred = model.viterbi(model.emissions(mx.array(x)))
    return 100.0 * float((pred != y).mean())


def main():
    rng = np.random.default_rng(11)
    phase_means = rng.normal(0, 1.0, (N_TAGS, N_CH))  # one sensor signature per phase
    xtr, ytr = simulate(2400, phase_means, rng)
    xva, yva = simulate(400, phase_means, rng)
    mu, sd = xtr.reshape(-1, N_CH).mean(0), xtr.reshape(-1, N_CH).std(0)
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    log.info("data: %d train / %d valid sequences of %d frames", len(xtr), len(xva), T)

    mx.random.seed(5)
    model = CRFTagger()
    model.proj.freeze()
    frozen_before = np.array(model.proj.weight).copy()

    steps_total = Cfg.epochs * (len(xtr) // Cfg.batch)
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, Cfg.peak_lr, Cfg.warmup_steps),
         optim.cosine_decay(Cfg.peak_lr, steps_total - Cfg.warmup_steps, end=1e-4)],
        [Cfg.warmup_steps])
    opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
    loss_and_grad = nn.value_and_grad(model, nll_per_frame)

    _, g0 = loss_and_grad(model, mx.array(xtr[:Cfg.batch]), mx.array(ytr[:Cfg.batch]))
    flat = tree_flatten(g0)
    dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
    log.info("trainable leaves with gradient: %d, zero: %s (proj frozen: %s)",
             len(flat), dead or "none", "proj.weight" not in dict(flat))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        return loss

    log.info("untrained: valid frame error %.1f%%, valid nll/frame %.3f",
             frame_error_pct(model, xva, yva), nll_per_frame(model, mx.array(xva), mx.array(yva)).item())
    t0 = time.time()
    it = 0
    running = 0.0
    for epoch in range(Cfg.epochs):
        order = rng.permutation(len(xtr))
        for b in range(len(xtr) // Cfg.batch):
            idx = order[b * Cfg.batch:(b + 1) * Cfg.batch]
            loss = step(mx.array(xtr[idx]), mx.array(ytr[idx]))
            mx.eval(state, loss)
            running += loss.item()
            it += 1
            if it % Cfg.report_every == 0:
                log.info("it %4d  ep %2d  lr %.2e  train nll/frame %.4f",
                         it, epoch + 1, opt.learning_rate.item(), running / Cfg.report_every)
                running = 0.0
        vnll = nll_per_frame(model, mx.array(xva), mx.array(yva)).item()
        log.info("epoch %2d done  valid nll/frame %.4f  valid frame error %.1f%%  (%.1fs)",
                 epoch + 1, vnll, frame_error_pct(model, xva, yva), time.time() - t0)

    drift = float(np.abs(np.array(model.proj.weight) - frozen_before).max())
    log.info("frozen projection drift: %.1e", drift)
    pred = model.viterbi(model.emissions(mx.array(xva)))
    for k, name in enumerate(PHASES):
        m = yva == k
        log.info("  %-7s recall %.1f%%", name, 100.0 * float((pred[m] == k).mean()))
    log.info("learned transition matrix (rows from, cols to):\n%s",
             np.array2string(np.array(model.trans), precision=2))


if __name__ == "__main__":
    main()
