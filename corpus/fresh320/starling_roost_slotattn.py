# Starling roost radar: split each sweep's echoes into the flocks that made them.
# Slot attention (softmax across slots, weighted mean across echoes, GRU update),
# trained as a mixture density: every slot emits a 2-D Gaussian and a weight.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

N_ECHO, N_FLOCK, DIM, ITERS = 30, 3, 48, 3
BATCH, STEPS, REPORT = 32, 700, 70


def sweep(rng, n):
    xs = np.zeros((n, N_ECHO, 2), np.float32)
    lab = np.zeros((n, N_ECHO), np.int32)
    cen = np.zeros((n, N_FLOCK, 2), np.float32)
    sig = np.zeros((n, N_FLOCK), np.float32)
    for i in range(n):
        c = []
        while len(c) < N_FLOCK:
            p = rng.uniform(-3.0, 3.0, 2)
            if all(np.linalg.norm(p - q) > 1.6 for q in c):
                c.append(p)
        cen[i] = np.array(c)
        sig[i] = rng.uniform(0.08, 0.2, N_FLOCK)
        lab[i] = rng.integers(0, N_FLOCK, N_ECHO)
        xs[i] = cen[i][lab[i]] + rng.normal(size=(N_ECHO, 2)) * sig[i][lab[i]][:, None]
    return xs, lab, cen, sig


def one_gaussian_nll(x):
    mu = x.mean(1, keepdims=True)
    var = ((x - mu) ** 2).mean((1, 2), keepdims=True)
    return float(np.mean(np.log(2 * np.pi * var) + ((x - mu) ** 2).sum(-1, keepdims=True) / (2 * var)))


def true_flock_nll(x, cen, sig):
    d2 = ((x[:, :, None, :] - cen[:, None, :, :]) ** 2).sum(-1)
    s2 = sig[:, None, :] ** 2
    logp = -np.log(2 * np.pi * s2) - d2 / (2 * s2) + np.log(1.0 / N_FLOCK)
    m = logp.max(-1, keepdims=True)
    return float(np.mean(-(m[..., 0] + np.log(np.exp(logp - m).sum(-1)))))


class GRUCell(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.wx = nn.Linear(d, 3 * d)
        self.wh = nn.Linear(d, 3 * d)

    def __call__(self, x, h):
        rx, zx, nx = mx.split(self.wx(x), 3, axis=-1)
        rh, zh, nh = mx.split(self.wh(h), 3, axis=-1)
        r = mx.sigmoid(rx + rh)
        z = mx.sigmoid(zx + zh)
        n = mx.tanh(nx + r * nh)
        return (1 - z) * n + z * h


class SlotRadar(nn.Module):
    def __init__(self, d=DIM, k=N_FLOCK):
        super().__init__()
        self.k = k
        self.enc = nn.Sequential(nn.Linear(2, d), nn.ReLU(), nn.Linear(d, d))
        self.norm_in = nn.LayerNorm(d)
        self.norm_slot = nn.LayerNorm(d)
        self.norm_mlp = nn.LayerNorm(d)
        self.q = nn.Linear(d, d, bias=False)
        self.kv = nn.Linear(d, 2 * d, bias=False)
        self.gru = GRUCell(d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))
        self.slot_mu = mx.random.normal((1, 1, d)) * 0.5
        self.slot_logsig = mx.zeros((1, 1, d))
        self.head = nn.Linear(d, 4)
        self.scale = d ** -0.5

    def step(self, slots, k, v):
        q = self.q(self.norm_slot(slots))                      # B K D
        logits = (k @ q.transpose(0, 2, 1)) * self.scale       # B N K
        attn = mx.softmax(logits, axis=-1) + 1e-8              # slots compete for each echo
        w = attn / attn.sum(axis=1, keepdims=True)             # weighted mean over echoes
        upd = w.transpose(0, 2, 1) @ v                         # B K D
        slots = self.gru(upd, slots)
        return slots + self.mlp(self.norm_mlp(slots)), attn, w

    def __call__(self, x, key):
        b = x.shape[0]
        feats = self.norm_in(self.enc(x))
        k, v = mx.split(self.kv(feats), 2, axis=-1)
        noise = mx.random.normal((b, self.k, self.slot_mu.shape[-1]), key=key)
        slots = self.slot_mu + mx.exp(self.slot_logsig) * noise
        for _ in range(ITERS - 1):
            slots, _, _ = self.step(slots, k, v)
        slots = mx.stop_gradient(slots)                        # implicit slot attention: last step only
        slots, attn, w = self.step(slots, k, v)
        out = self.head(slots)
        mu = w.transpose(0, 2, 1) @ x + 0.1 * out[..., :2]     # slot centroid of its echoes, plus a nudge
        log_s = -1.25 + 2.75 * mx.tanh(out[..., 2] / 2.75)             # soft range, no flat clip
        log_pi = out[..., 3] - mx.logsumexp(out[..., 3], axis=-1, keepdims=True)
        return mu, log_s, log_pi, attn


def mixture_nll(model, x, key):
    mu, log_s, log_pi, _ = model(x, key)
    d2 = ((x[:, :, None, :] - mu[:, None, :, :]) ** 2).sum(-1)          # B N K
    s2 = mx.exp(2 * log_s)[:, None, :]
    logp = -mx.log(2 * math.pi * s2) - d2 / (2 * s2) + log_pi[:, None, :]
    return -mx.logsumexp(logp, axis=-1).mean()


PERMS = [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]


def split_accuracy(pred, lab):
    best = np.zeros(len(lab))
    for p in PERMS:
        best = np.maximum(best, (np.array(p)[pred] == lab).mean(1))
    return 100.0 * best.mean()


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    vx, vlab, vcen, vsig = sweep(rng, 256)
    vxm = mx.array(vx)
    ref_one = one_gaussian_nll(vx)
    ref_true = true_flock_nll(vx, vcen, vsig)
    ref_rand = split_accuracy(rng.integers(0, N_FLOCK, vlab.shape), vlab)
    print(f"# radar: {N_ECHO} echoes/sweep, {N_FLOCK} flocks, val sweeps {len(vx)}")
    print(f"# reference nll: one-gaussian {ref_one:+.3f}  true-flock mixture {ref_true:+.3f}  (nats/echo, lower is better)")
    print(f"# reference split: random labels {ref_rand:.1f}%")

    model = SlotRadar()
    mx.eval(model.parameters())
    warm = 100
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-3, warm), optim.cosine_decay(1e-3, STEPS - warm, 5e-5)], [warm])
    opt = optim.Adam(learning_rate=sched)
    loss_and_grad = nn.value_and_grad(model, mixture_nll)
    vkey = mx.random.key(5)

    t0 = time.time()
    run = []
    for step in range(1, STEPS + 1):
        x, _, _, _ = sweep(rng, BATCH)
        lr_used = float(sched(opt.step))
        loss, grads = loss_and_grad(model, mx.array(x), mx.random.key(1000 + step))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if step % REPORT == 0 or step == 1:
            vloss = mixture_nll(model, vxm, vkey).item()
            _, _, _, attn = model(vxm, vkey)
            acc = split_accuracy(np.array(attn.argmax(-1)), vlab)
            print(f"sweep {step:04d} | lr {lr_used:.2e} | nll {np.mean(run):+.3f} nats/echo | "
                  f"val {vloss:+.3f} (one-gaussian {ref_one:+.3f}, true-flock {ref_true:+.3f}) | "
                  f"split {acc:5.1f}% | {time.time() - t0:5.1f}s")
            run = []
    print(f"# done: val nll {vloss:+.3f} vs one-gaussian {ref_one:+.3f}; echoes split {acc:.1f}% (random {ref_rand:.1f}%)")


if __name__ == "__main__":
    main()
