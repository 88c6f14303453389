"""Glacier meltwater discharge: pretrain an encoder on unlabeled gauge days (masked-feature
reconstruction), then fit quantile heads on the frozen encoder, then fine-tune everything."""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(relativeCreated)7.0fms  %(message)s")
log = logging.getLogger("melt")

QUANTILES = (0.1, 0.5, 0.9)
FEATURES = ["degree_days", "solar_wm2", "snow_cover", "precip_mm", "season_day", "debris_frac"]


def make_days(n, rng):
    # the gauge readings are correlated through the season and the cloud cover
    day = rng.uniform(0, 120, n)
    season = np.sin(np.pi * day / 120)
    cloud = rng.beta(2, 2, n)
    solar = (120 + 220 * season * (1 - 0.7 * cloud) + rng.normal(0, 15, n)).clip(40, 400)
    dd = np.maximum(0.0, 9 * season + 0.02 * (solar - 200) + rng.normal(0, 1.5, n))
    snow = np.clip(1 - day / 100 + 0.3 * cloud + rng.normal(0, 0.08, n), 0, 1)
    precip = rng.exponential(1.0 + 6 * cloud)
    debris = rng.beta(1.5, 6, n)
    melt = (0.9 * dd * (1 - 0.6 * snow) + 0.012 * solar * (1 - debris)
            + 0.15 * precip + 2.0 * np.sin(np.pi * day / 120))
    # right-skewed noise that grows with melt: quantiles are asymmetric
    q = melt + rng.gamma(2.0, 0.25 + 0.08 * melt, n) - 0.5 * (0.25 + 0.08 * melt)
    x = np.stack([dd, solar, snow, precip, day, debris], 1).astype(np.float32)
    return x, q.astype(np.float32)


class Encoder(nn.Module):
    def __init__(self, d_in, d_hidden=64, d_out=32):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_out)

    def __call__(self, x):
        return nn.silu(self.fc2(nn.silu(self.fc1(x))))


class MeltModel(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.encoder = Encoder(d_in)
        self.recon = nn.Linear(32, d_in)          # used only while pretraining
        self.quant = nn.Linear(32, len(QUANTILES))

    def reconstruct(self, x):
        return self.recon(self.encoder(x))

    def __call__(self, x):
        return self.quant(self.encoder(x))


def pinball(pred, y):
    taus = mx.array(QUANTILES)
    err = y[:, None] - pred
    return mx.mean(mx.maximum(taus * err, (taus - 1.0) * err))


def masked_recon_loss(model, x, mask):
    x_in = mx.where(mask, 0.0, x)
    return mx.mean(((model.reconstruct(x_in) - x) ** 2) * mask) / mx.mean(mask)


def quantile_loss(model, x, y):
    return pinball(model(x), y)


def grad_report(grads, label):
    flat = tree_flatten(grads)
    zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
    log.info("%s: %d trainable gradient leaves, all-zero: %s", label, len(flat), zero or "none")


def evaluate(model, x, y):
    pred = model(x)
    mx.eval(pred)
    p = np.array(pred)
    yt = np.array(y)
    cover = np.mean((yt >= p[:, 0]) & (yt <= p[:, 2])) * 100
    width = np.mean(p[:, 2] - p[:, 0])
    return pinball(pred, y).item(), cover, width


def run_phase(model, opt, loss_fn, data, steps, batch, rng, label, every=None, val=None):
    grad_fn = nn.value_and_grad(model, loss_fn)
    n = data[0].shape[0]
    running = []
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, n, batch))
        args = [d[idx] for d in data]
        loss, grads = grad_fn(model, *args)
        if step == 1:
            grad_report(grads, label)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        if every and step % every == 0:
            vl, cov, wid = evaluate(model, *val)
            log.info("%s step %4d  train pinball %.4f  val pinball %.4f  "
                     "q10-q90 coverage %5.1f%%  mean width %.2f m3/s",
                     label, step, np.mean(running[-every:]), vl, cov, wid)
    return running


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    x_unlab, _ = make_days(20000, rng)
    x_tr, y_tr = make_days(1500, rng)
    x_va, y_va = make_days(3000, rng)
    mu, sd = x_unlab.mean(0), x_unlab.std(0)
    norm = lambda a: mx.array((a - mu) / sd)
    xu, xt, xv = norm(x_unlab), norm(x_tr), norm(x_va)
    yt, yv = mx.array(y_tr), mx.array(y_va)
    log.info("gauge days: %d unlabeled, %d labeled train, %d validation; features %s",
             len(x_unlab), len(x_tr), len(x_va), ",".join(FEATURES))

    model = MeltModel(len(FEATURES))
    mx.eval(model.parameters())

    # phase 1: masked-feature pretraining on unlabeled days (no report until it is done)
    t0 = time.perf_counter()
    masks = mx.array(rng.random((20000, len(FEATURES))) < 0.3, dtype=mx.float32)
    model.quant.freeze()
    opt1 = optim.Adam(learning_rate=2e-3)
    rec = run_phase(model, opt1, masked_recon_loss, (xu, masks), 1500, 128, rng, "pretrain")
    model.quant.unfreeze()
    log.info("pretrain done in %.1fs: masked recon mse %.3f -> %.3f (first/last 100 steps)",
             time.perf_counter() - t0, np.mean(rec[:100]), np.mean(rec[-100:]))

    # phase 2: encoder frozen on purpose, only the quantile head learns
    model.recon.freeze()
    model.encoder.freeze()
    enc_before = tree_map(lambda a: mx.array(a), model.encoder.parameters())
    vl, cov, wid = evaluate(model, xv, yv)
    log.info("untrained head: val pinball %.4f  coverage %.1f%%  (target coverage 80%%)", vl, cov)
    opt2 = optim.Adam(learning_rate=1e-2)
    run_phase(model, opt2, quantile_loss, (xt, yt), 600, 64, rng, "probe", every=150, val=(xv, yv))
    drift = max(float(mx.abs(a - b).max()) for (_, a), (_, b) in
                zip(tree_flatten(enc_before), tree_flatten(model.encoder.parameters())))
    log.info("probe done: encoder max drift %.1e (frozen)", drift)

    # phase 3: unfreeze the encoder and fine-tune it with the head at a small step size
    model.encoder.unfreeze()
    opt3 = optim.AdamW(learning_rate=3e-4, weight_decay=1e-4)
    run_phase(model, opt3, quantile_loss, (xt, yt), 900, 64, rng, "finetune", every=150, val=(xv, yv))

    vl, cov, wid = evaluate(model, xv, yv)
    yvn = np.array(yv)
    naive = np.quantile(np.array(yt), QUANTILES)
    naive_pb = float(np.mean(np.maximum(np.array(QUANTILES) * (yvn[:, None] - naive),
                                        (np.array(QUANTILES) - 1) * (yvn[:, None] - naive))))
    log.info("final: val pinball %.4f (constant train quantiles %.4f), coverage %.1f%%, width %.2f m3/s",
             vl, naive_pb, cov, wid)


if __name__ == "__main__":
    main()
