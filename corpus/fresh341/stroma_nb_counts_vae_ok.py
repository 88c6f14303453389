"""Count VAE (scVI-style, negative binomial) on synthetic stromal-cell UMI counts.

Two sequencing batches, four cell states; the encoder sees log1p(counts), the
decoder gets the latent sample plus the one-hot batch and outputs gene
frequencies that are scaled by each cell's library size.
"""
import random
import time
from dataclasses import dataclass

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

random.seed(7)
np.random.seed(7)
mx.random.seed(7)

N_CELLS, N_GENES, N_STATES, N_BATCH = 1600, 240, 4, 2


def make_counts(n):
    state = np.random.randint(0, N_STATES, size=n)
    batch = np.random.randint(0, N_BATCH, size=n)
    programs = np.random.RandomState(11).normal(0.0, 1.2, size=(N_STATES, N_GENES))
    batch_shift = np.random.RandomState(12).normal(0.0, 0.3, size=(N_BATCH, N_GENES))
    base = np.random.RandomState(13).normal(-0.5, 1.0, size=N_GENES)
    logits = base + programs[state] + batch_shift[batch]
    freq = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    lib = np.random.lognormal(np.log(1500.0), 0.35, size=n)
    mean = freq * lib[:, None]
    theta = 4.0
    lam = np.random.gamma(theta, mean / theta)
    x = np.random.poisson(lam).astype(np.float32)
    return x, batch.astype(np.int32), state


X_all, B_all, S_all = make_counts(N_CELLS)
perm = np.random.permutation(N_CELLS)
tr, va = perm[:1300], perm[1300:]
print(f"cells={N_CELLS} genes={N_GENES} median UMIs/cell={np.median(X_all.sum(1)):.0f} "
      f"zeros={100.0 * (X_all == 0).mean():.1f}%")


def _lgamma(x):
    cof = [
        76.18009172947146,
        -86.50532032941677,
        24.01409824083091,
        -1.231739572450155,
        0.1208650973866179e-2,
        -0.5395239384953e-5,
    ]
    y = x
    tmp = x + 5.5
    tmp = tmp - (x + 0.5) * mx.log(tmp)
    ser = mx.ones_like(x) * 1.000000000190015
    for j in range(6):
        y = y + 1.0
        ser = ser + cof[j] / y
    return -tmp + mx.log(2.5066282746310005 * ser / x)


def _log_nb_positive(x, mu, theta, eps=1e-8):
    log_theta_mu_eps = mx.log(theta + mu + eps)
    res = (
        theta * (mx.log(theta + eps) - log_theta_mu_eps)
        + x * (mx.log(mu + eps) - log_theta_mu_eps)
        + _lgamma(x + theta)
        - _lgamma(theta)
        - _lgamma(x + 1)
    )
    return res


@dataclass
class LossOutput:
    loss: mx.array
    reconstruction_loss: mx.array
    kl_local: mx.array


class MlxDense(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        scale = 1 / 3
        limit = scale * (6 / (in_features + out_features)) ** 0.5
        self.weight = mx.random.uniform(low=-limit, high=limit, shape=(in_features, out_features))
        self.bias = mx.zeros(out_features)

    def __call__(self, x):
        return x @ self.weight + self.bias


class MlxEncoder(nn.Module):
    def __init__(self, n_input, n_latent, n_hidden, dropout_rate):
        super().__init__()
        self.dense1 = MlxDense(n_input, n_hidden)
        self.bn1 = nn.BatchNorm(n_hidden, momentum=0.9)
        self.dropout1 = nn.Dropout(dropout_rate)
        self.dense2 = MlxDense(n_hidden, n_hidden)
        self.bn2 = nn.BatchNorm(n_hidden, momentum=0.9)
        self.dropout2 = nn.Dropout(dropout_rate)
        self.mean_layer = MlxDense(n_hidden, n_latent)
        self.var_layer = MlxDense(n_hidden, n_latent)

    def __call__(self, x):
        x = mx.log1p(x)
        h = self.dropout1(nn.relu(self.bn1(self.dense1(x))))
        h = self.dropout2(nn.relu(self.bn2(self.dense2(h))))
        mean = self.mean_layer(h)
        var = mx.exp(self.var_layer(h))
        return mean, var


class MlxDecoder(nn.Module):
    def __init__(self, n_input, n_hidden, n_batch, n_latent, dropout_rate=0.0):
        super().__init__()
        self.dense1 = MlxDense(n_latent, n_hidden)
        self.dense2 = MlxDense(n_batch, n_hidden)
        self.bn1 = nn.BatchNorm(n_hidden, momentum=0.9)
        self.dropout1 = nn.Dropout(dropout_rate)
        self.dense3 = MlxDense(n_hidden, n_hidden)
        self.dense4 = MlxDense(n_batch, n_hidden)
        self.bn2 = nn.BatchNorm(n_hidden, momentum=0.9)
        self.dropout2 = nn.Dropout(dropout_rate)
        self.dense5 = MlxDense(n_hidden, n_input)
        key = mx.random.key(random.randint(0, 2**31 - 1))
        self.disp = mx.random.normal(key=key, shape=(n_input,))

    def __call__(self, z, batch):
        h = self.dense1(z) + self.dense2(batch)
        h = self.dropout1(nn.relu(self.bn1(h)))
        h = self.dense3(h) + self.dense4(batch)
        h = self.dropout2(nn.relu(self.bn2(h)))
        return self.dense5(h), self.disp


class MlxVAE(nn.Module):
    def __init__(self, n_input, n_batch, n_hidden=128, n_latent=10, dropout_rate=0.1, eps=1e-8):
        super().__init__()
        self.n_batch = n_batch
        self.eps = eps
        self.encoder = MlxEncoder(n_input, n_latent, n_hidden, dropout_rate)
        self.decoder = MlxDecoder(n_input, n_hidden, n_batch, n_latent, dropout_rate)

    def inference(self, x, n_samples=1):
        mean, var = self.encoder(x)
        stddev = mx.sqrt(mx.clip(var, 1e-8, 50.0)) + self.eps
        key = mx.random.key(random.randint(0, 2**31 - 1))
        if n_samples == 1:
            eps = mx.random.normal(key=key, shape=mean.shape)
        else:
            eps = mx.random.normal(key=key, shape=(n_samples,) + mean.shape)
        z = mean + stddev * eps
        return {"mean": mean, "var": var, "z": z}

    def generative(self, z, batch_index, x):
        batch = mx.zeros((batch_index.shape[0], self.n_batch))
        rows = mx.arange(batch_index.reshape(-1).shape[0])
        batch = batch.at[rows, batch_index.reshape(-1)].add(1.0)
        rho_unnorm, disp = self.decoder(z, batch)
        disp_ = mx.exp(disp)
        rho_unnorm = mx.clip(rho_unnorm, -50, 50)
        rho_exp = mx.exp(rho_unnorm)
        rho = rho_exp / mx.sum(rho_exp, axis=-1, keepdims=True)
        total_count = mx.sum(x, axis=-1, keepdims=True)
        mu = total_count * rho
        return {"mu": mu, "disp": disp_, "rho": rho}

    def loss(self, x, inference_outputs, generative_outputs, kl_weight=1.0):
        mu = generative_outputs["mu"]
        disp = generative_outputs["disp"]
        mean = inference_outputs["mean"]
        var = inference_outputs["var"]
        eps = self.eps
        log_prob = _log_nb_positive(x, mu, disp, eps=eps)
        reconst_loss = -mx.sum(log_prob, axis=-1)
        kl_divergence = 0.5 * mx.sum(
            var + mx.square(mean) - 1.0 - mx.log(mx.maximum(var, 1e-8)), axis=-1
        )
        weighted_kl = kl_weight * kl_divergence
        loss = mx.mean(reconst_loss + weighted_kl)
        return LossOutput(loss=loss, reconstruction_loss=reconst_loss, kl_local=kl_divergence)

    def __call__(self, x, batch_index, kl_weight=1.0):
        inf = self.inference(x)
        gen = self.generative(inf["z"], batch_index, x)
        return inf, gen, self.loss(x, inf, gen, kl_weight)


model = MlxVAE(N_GENES, N_BATCH)
mx.eval(model.parameters())
optimizer = optim.AdamW(learning_rate=1e-3, weight_decay=1e-6, eps=1e-8, betas=[0.9, 0.999],
                        bias_correction=True)
MAX_EPOCHS, KL_WARMUP_EPOCHS, BATCH_SIZE, MAX_GRAD_NORM = 30, 15, 128, 5.0


def loss_fn(model, x, b, kl_weight):
    _, _, out = model(x, b, kl_weight=kl_weight)
    return out.loss


loss_and_grad_fn = nn.value_and_grad(model, loss_fn)


def clip_each(g):
    n = mx.sqrt(mx.sum(mx.square(g)))
    return mx.where(n > MAX_GRAD_NORM, g * (MAX_GRAD_NORM / (n + 1e-8)), g)


Xv, Bv = mx.array(X_all[va]), mx.array(B_all[va])


def evaluate():
    model.eval()
    inf, gen, out = model(Xv, Bv, kl_weight=1.0)
    mu = np.array(mx.sum(Xv, axis=-1, keepdims=True) * gen["rho"]).reshape(-1, N_GENES)
    xv = X_all[va]
    # per-cell correlation of log expected vs log observed expression
    a, c = np.log1p(mu), np.log1p(xv)
    a = a - a.mean(1, keepdims=True)
    c = c - c.mean(1, keepdims=True)
    r = (a * c).sum(1) / np.sqrt((a * a).sum(1) * (c * c).sum(1) + 1e-12)
    model.train()
    return (out.loss.item(), mx.mean(out.reconstruction_loss).item(),
            mx.mean(out.kl_local).item(), float(r.mean()), np.array(inf["mean"]))


def knn_state_acc(latent, labels, k=10):
    d = ((latent[:, None, :] - latent[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nn_idx = np.argsort(d, axis=1)[:, :k]
    votes = labels[nn_idx]
    pred = np.array([np.bincount(v, minlength=N_STATES).argmax() for v in votes])
    return 100.0 * (pred == labels).mean()


v0 = evaluate()
print(f"init  val_loss={v0[0]:.2f} val_recon={v0[1]:.2f} val_kl={v0[2]:.2f} expr_r={v0[3]:.3f}")
t0 = time.time()
step = 0
model.train()
for epoch in range(MAX_EPOCHS):
    kl_weight = min(1.0, epoch / max(1, KL_WARMUP_EPOCHS))
    order = np.random.permutation(tr)
    epoch_loss, n_batches = 0.0, 0
    for i in range(0, len(order), BATCH_SIZE):
        idx = order[i:i + BATCH_SIZE]
        if len(idx) < 8:
            continue
        x, b = mx.array(X_all[idx]), mx.array(B_all[idx])
        step += 1
        loss, grads = loss_and_grad_fn(model, x, b, kl_weight)
        if not mx.isfinite(loss).item():
            print(f"  step {step}: non-finite loss, update skipped")
            continue
        grads = tree_map(clip_each, grads)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        epoch_loss += loss.item()
        n_batches += 1
    avg = epoch_loss / max(n_batches, 1)
    if epoch % 3 == 2 or epoch == 0:
        vl, vr, vk, r, _ = evaluate()
        print(f"Epoch {epoch + 1:2d}/{MAX_EPOCHS}  kl_w={kl_weight:.2f}  train_loss={avg:.2f}  "
              f"val_loss={vl:.2f}  val_recon={vr:.2f}  val_kl={vk:.2f}  expr_r={r:.3f}  "
              f"t={time.time() - t0:.1f}s")

vl, vr, vk, r, lat = evaluate()
print(f"final val_loss={vl:.2f} expr_r={r:.3f} "
      f"latent kNN state acc={knn_state_acc(lat, S_all[va]):.1f}% (chance {100.0 / N_STATES:.0f}%)")
