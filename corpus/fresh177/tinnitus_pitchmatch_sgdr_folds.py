"""Tinnitus pitch matching: predict the matched tinnitus pitch (log2 kHz) from an
audiogram, with a heteroscedastic Gaussian head (pitch matches are noisy and the
spread depends on how flat the audiogram is). 5-fold CV, warm-up from lr=0 and
SGDR warm restarts inside each fold."""
import logging, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(name)s | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("pitchmatch")

FREQS_KHZ = np.array([0.25, 0.5, 1, 2, 3, 4, 6, 8], dtype=np.float32)

def make_ears(n, rng):
    age = rng.uniform(20, 80, n)
    noise_yrs = rng.gamma(2.0, 6.0, n)
    edge = rng.uniform(1.2, 3.0, n) - 0.006 * (age - 50) - 0.01 * noise_yrs  # log2 kHz of loss edge
    lf = np.log2(FREQS_KHZ)[None, :]
    depth = 20 + 0.5 * (age[:, None] - 20) * 0.6 + 1.2 * noise_yrs[:, None]
    thr = 10 + depth / (1 + np.exp(-(lf - edge[:, None]) * 3.0)) + rng.normal(0, 5, (n, 8))
    thr = np.round(thr / 5) * 5  # audiometers step in 5 dB
    slope = np.max(np.diff(thr, axis=1), axis=1)
    sd = 0.15 + 0.6 / (1 + slope / 10.0)  # flat audiograms -> vaguer matches
    pitch = edge + 0.35 + rng.normal(0, 1, n) * sd  # pitch sits a bit above the edge
    x = np.concatenate([thr / 50.0, (age[:, None] - 50) / 20, noise_yrs[:, None] / 10], 1)
    return x.astype(np.float32), pitch.astype(np.float32)

class PitchNet(nn.Module):
    def __init__(self, d_in, h=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.mu = nn.Linear(h, 1)
        self.logvar = nn.Linear(h, 1)
    def __call__(self, x):
        z = nn.silu(self.l2(nn.silu(self.l1(x))))
        return self.mu(z).squeeze(-1), self.logvar(z).squeeze(-1)

def gauss_nll(model, x, y):
    mu, lv = model(x)
    lv = mx.clip(lv, -6, 3)
    return mx.mean(0.5 * (lv + (y - mu) ** 2 / mx.exp(lv)) + 0.5 * math.log(2 * math.pi))

def sgdr_lr(step, steps_per_epoch, base=3e-3, warm_epochs=2, cycle_epochs=(4, 8, 16)):
    e = step / steps_per_epoch
    if e < warm_epochs:
        return base * e / warm_epochs          # starts at exactly 0.0
    e -= warm_epochs
    for c in cycle_epochs:
        if e < c:
            return 0.5 * base * (1 + math.cos(math.pi * e / c))
        e -= c
    return 0.0

def main():
    t0 = time.time()
    rng = np.random.default_rng(177)
    X, Y = make_ears(1500, rng)
    folds = np.array_split(rng.permutation(len(X)), 5)
    epochs, bs = 30, 64
    summary = []
    for k, val_idx in enumerate(folds, 1):
        tr_idx = np.concatenate([f for j, f in enumerate(folds, 1) if j != k])
        xtr, ytr = mx.array(X[tr_idx]), mx.array(Y[tr_idx])
        xva, yva = mx.array(X[val_idx]), mx.array(Y[val_idx])
        mx.random.seed(1000 + k)
        model = PitchNet(X.shape[1])
        opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
        step_fn = nn.value_and_grad(model, gauss_nll)
        spe = math.ceil(len(tr_idx) / bs)
        base_mae = float(mx.mean(mx.abs(yva - mx.mean(ytr))))
        log.info("fold %d/5 start: n_train=%d n_val=%d  mean-predictor MAE %.3f oct", k, len(tr_idx), len(val_idx), base_mae)
        if k == 1:
            _, g = step_fn(model, xtr[:256], ytr[:256])
            for name, v in tree_flatten(g):
                log.info("grad audit %-12s |g|=%.2e", name, float(mx.sqrt(mx.sum(v * v))))
        step = 0
        for ep in range(1, epochs + 1):
            perm = mx.array(rng.permutation(len(tr_idx)))
            run = 0.0
            for i in range(spe):
                idx = perm[i * bs:(i + 1) * bs]
                opt.learning_rate = sgdr_lr(step, spe)
                loss, grads = step_fn(model, xtr[idx], ytr[idx])
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                run += loss.item()
                step += 1
            if ep % 3 == 0 or ep == 1:
                mu, lv = model(xva)
                nll = gauss_nll(model, xva, yva).item()
                err = mx.abs(mu - yva)
                mae = mx.mean(err).item()
                within = 100.0 * mx.mean(err < 0.5).item()
                hz = 1000.0 * (mx.mean(mx.abs(2.0 ** mu - 2.0 ** yva))).item()
                log.info("fold %d ep %02d lr=%.2e train_nll=%+.3f val_nll=%+.3f MAE=%.3f oct (~%.0f Hz) "
                         "within-half-oct=%.1f%% sigma=%.2f oct", k, ep, opt.learning_rate.item(), run / spe, nll,
                         mae, hz, within, mx.mean(mx.exp(0.5 * lv)).item())
        summary.append((k, base_mae, mae, nll, within))
    log.info("---- cross-validation summary ----")
    log.info("fold | baseline MAE | model MAE | val NLL | within 1/2 oct")
    for k, b, m, n, w in summary:
        log.info("%4d | %12.3f | %9.3f | %+7.3f | %6.1f%%", k, b, m, n, w)
    a = np.array([s[1:] for s in summary])
    log.info("mean | %12.3f | %9.3f | %+7.3f | %6.1f%%  (%.1fs)", *a.mean(0), time.time() - t0)

if __name__ == "__main__":
    main()
