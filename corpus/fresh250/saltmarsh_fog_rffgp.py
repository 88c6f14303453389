# Lighthouse fog log: visibility (log km) from hour-of-day and barometric tendency.
# Variational random-Fourier-feature GP: mean-field Gaussian posterior over feature
# weights, learned lengthscales and noise, ELBO with KL weight annealed in.
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_FEAT, N_TRAIN, N_TEST = 128, 1500, 500
EPOCHS, BATCH, CKPT_EPOCH = 40, 100, 20


def make_data(key, n):
    k1, k2, k3 = mx.random.split(key, 3)
    hour = mx.random.uniform(0, 24, (n,), key=k1)
    dp = mx.random.normal((n,), key=k2) * 2.0  # hPa / 3h
    ang = 2 * math.pi * hour / 24
    y = 1.2 + 0.8 * mx.cos(ang - 2.6) + 0.35 * mx.tanh(dp) + 0.25 * mx.sin(3 * ang) * (dp > 0)
    y = y + 0.12 * mx.random.normal((n,), key=k3)
    X = mx.stack([mx.cos(ang), mx.sin(ang), dp / 2.0], axis=1)
    return X, y


class RFFGP(nn.Module):
    def __init__(self, d_in, n_feat):
        super().__init__()
        k = mx.random.key(7)
        ka, kb = mx.random.split(k)
        self._omega = mx.random.normal((d_in, n_feat), key=ka)
        self._phase = mx.random.uniform(0, 2 * math.pi, (n_feat,), key=kb)
        self.log_ls = mx.zeros((d_in,))
        self.log_amp = mx.array(0.0)
        self.log_noise = mx.array(-1.0)
        self.bias = mx.array(0.0)
        self.w_mu = mx.zeros((n_feat,))
        self.w_rho = mx.full((n_feat,), -3.0)

    def features(self, X):
        proj = (X / mx.exp(self.log_ls)) @ self._omega + self._phase
        return mx.exp(self.log_amp) * math.sqrt(2.0 / self._omega.shape[1]) * mx.cos(proj)

    def predict(self, X):
        phi = self.features(X)
        var_w = nn.softplus(self.w_rho) ** 2
        mean = phi @ self.w_mu + self.bias
        var = (phi**2) @ var_w + mx.exp(2 * self.log_noise)
        return mean, var

    def kl(self):
        s2 = nn.softplus(self.w_rho) ** 2
        return 0.5 * mx.sum(s2 + self.w_mu**2 - 1.0 - mx.log(s2))


def neg_elbo_per_point(model, X, y, kl_w, n_total, key):
    phi = model.features(X)
    sigma = nn.softplus(model.w_rho)
    eps = mx.random.normal(sigma.shape, key=key)
    w = model.w_mu + sigma * eps
    f = phi @ w + model.bias
    nv = mx.exp(2 * model.log_noise)
    nll = 0.5 * (mx.log(2 * math.pi * nv) + (y - f) ** 2 / nv)
    return mx.mean(nll) + kl_w * model.kl() / n_total


def evaluate(model, X, y):
    mean, var = model.predict(X)
    sd = mx.sqrt(var)
    rmse = mx.sqrt(mx.mean((mean - y) ** 2)).item()
    nlpd = mx.mean(0.5 * mx.log(2 * math.pi * var) + 0.5 * (y - mean) ** 2 / var).item()
    cover = mx.mean((mx.abs(y - mean) < 1.645 * sd).astype(mx.float32)).item()
    return rmse, nlpd, cover


def main():
    t0 = time.time()
    mx.random.seed(3)
    Xtr, ytr = make_data(mx.random.key(1), N_TRAIN)
    Xte, yte = make_data(mx.random.key(2), N_TEST)
    base_rmse = mx.sqrt(mx.mean((yte - mx.mean(ytr)) ** 2)).item()
    base_nlpd = 0.5 * math.log(2 * math.pi * mx.var(ytr).item()) + 0.5 * (
        mx.mean((yte - mx.mean(ytr)) ** 2).item() / mx.var(ytr).item()
    )
    print(f"climatology baseline: rmse {base_rmse:.3f} nlpd {base_nlpd:.3f}")

    steps_per_epoch = N_TRAIN // BATCH
    total = EPOCHS * steps_per_epoch
    warm = 3 * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-2, warm), optim.cosine_decay(2e-2, total - warm, 1e-3)], [warm]
    )
    kl_ramp = 10 * steps_per_epoch

    ckpt_dir = tempfile.mkdtemp(None, "fogrff_")
    ckpt = os.path.join(ckpt_dir, "rffgp.safetensors")

    def run(model, opt, start_epoch, end_epoch, step):
        grad_fn = nn.value_and_grad(model, neg_elbo_per_point)
        for ep in range(start_epoch, end_epoch):
            perm = mx.random.permutation(N_TRAIN, key=mx.random.key(100 + ep))
            tot = 0.0
            for b in range(steps_per_epoch):
                idx = perm[b * BATCH : (b + 1) * BATCH]
                kl_w = min(1.0, step / kl_ramp)
                loss, g = grad_fn(model, Xtr[idx], ytr[idx], kl_w, N_TRAIN, mx.random.key(10_000 + step))
                opt.update(model, g)
                mx.eval(model.parameters(), opt.state)
                tot += loss.item()
                step += 1
            if ep % 5 == 4 or ep == start_epoch:
                rmse, nlpd, cover = evaluate(model, Xte, yte)
                print(
                    f"epoch {ep + 1:2d} lr {opt.learning_rate.item():.4f} kl_w {kl_w:.2f} "
                    f"neg_elbo/pt {tot / steps_per_epoch:+.4f} | test rmse {rmse:.3f} "
                    f"nlpd {nlpd:+.3f} cover90 {cover:.2f} noise_sd {math.exp(model.log_noise.item()):.3f}"
                )
        return step

    model = RFFGP(3, N_FEAT)
    opt = optim.Adam(learning_rate=sched)
    step = run(model, opt, 0, CKPT_EPOCH, 0)
    model.save_weights(ckpt)
    mx.savez(os.path.join(ckpt_dir, "opt.npz"), **dict(tree_flatten(opt.state)))
    print(f"checkpoint at epoch {CKPT_EPOCH}, step {step}")

    # resume into a fresh process-like state
    model2 = RFFGP(3, N_FEAT)
    model2.load_weights(ckpt)
    opt2 = optim.Adam(learning_rate=sched)
    opt2.init(model2.trainable_parameters())
    saved = mx.load(os.path.join(ckpt_dir, "opt.npz"))
    opt2.state = tree_unflatten(list(saved.items()))
    rmse, nlpd, cover = evaluate(model2, Xte, yte)
    print(f"resumed at step {opt2.state['step'].item()}: test rmse {rmse:.3f} nlpd {nlpd:+.3f}")
    run(model2, opt2, CKPT_EPOCH, EPOCHS, step)

    rmse, nlpd, cover = evaluate(model2, Xte, yte)
    ls = mx.exp(model2.log_ls).tolist()
    print(f"final: rmse {rmse:.3f} (baseline {base_rmse:.3f}) nlpd {nlpd:+.3f} (baseline {base_nlpd:+.3f}) cover90 {cover:.2f}")
    print(f"lengthscales {[round(v, 2) for v in ls]} noise_sd {math.exp(model2.log_noise.item()):.3f} (true 0.120)")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
