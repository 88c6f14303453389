"""Self-supervised embeddings of beehive hum spectra (MoCo-style).

Each hive has its own acoustic fingerprint.  We learn a 16-d embedding
without labels: two random augmentations of one recording must match each
other better than a queue of keys from earlier batches.  The key encoder
is a momentum (EMA) copy of the query encoder and is never trained by
gradient.  Hive labels are used only for the k-NN probe.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

N_BANDS, N_HIVES, EMB = 24, 8, 16
QUEUE_CAP, BATCH, STEPS = 2048, 64, 1500
TAU, EMA_DECAY = 0.2, 0.99
REPORT = 150

rng = np.random.default_rng(11)
freqs = np.linspace(0.0, 1.0, N_BANDS)
protos = []
for h in range(N_HIVES):
    f0 = rng.uniform(0.2, 0.5)
    spec = np.exp(-0.5 * ((freqs - f0) / 0.05) ** 2)
    spec += 0.6 * np.exp(-0.5 * ((freqs - 2 * f0) / 0.07) ** 2)
    spec += 0.3 * rng.random(N_BANDS)
    protos.append(spec)
protos = np.stack(protos)


def recordings(n):
    hive = rng.integers(0, N_HIVES, n)
    x = protos[hive] * np.exp(rng.uniform(-1.2, 1.2, (n, 1))) + 0.12 * rng.standard_normal((n, N_BANDS))
    return np.log1p(np.clip(x, 0, None)).astype(np.float32), hive


train_x, _ = recordings(6000)
bank_x, bank_y = recordings(1200)
probe_x, probe_y = recordings(600)
mu, sd = train_x.mean(0), train_x.std(0) + 1e-6


def augment(x):
    gain = np.exp(rng.uniform(-1.2, 1.2, (len(x), 1)))
    shift = rng.integers(-2, 3, len(x))
    out = np.stack([np.roll(r, s) for r, s in zip(x, shift)]) * gain
    drop = rng.random(x.shape) < 0.05
    out = np.where(drop, 0.0, out) + 0.03 * rng.standard_normal(x.shape)
    return ((out - mu) / sd).astype(np.float32)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_BANDS, 64)
        self.l2 = nn.Linear(64, 64)
        self.proj = nn.Linear(64, EMB)

    def __call__(self, x):
        h = nn.relu(self.l1(x))
        h = nn.relu(self.l2(h))
        z = self.proj(h)
        return z / mx.sqrt(mx.sum(z * z, axis=-1, keepdims=True) + 1e-8)


mx.random.seed(3)
query_enc = Encoder()
key_enc = Encoder()
key_enc.update(tree_map(lambda p: mx.array(p), query_enc.parameters()))
key_enc.freeze()
mx.eval(query_enc.parameters(), key_enc.parameters())

opt = optim.SGD(learning_rate=0.03, momentum=0.9, weight_decay=1e-4)


def info_nce(model, xq, keys_pos, queue):
    q = model(xq)
    pos = mx.sum(q * keys_pos, axis=-1, keepdims=True)
    logits = mx.concatenate([pos, q @ queue.T], axis=1) / TAU
    target = mx.zeros((q.shape[0],), dtype=mx.int32)
    hit = mx.mean((mx.argmax(logits, axis=1) == 0).astype(mx.float32))
    return nn.losses.cross_entropy(logits, target, reduction="mean"), hit


loss_and_grad = nn.value_and_grad(query_enc, info_nce)


def knn_accuracy(k=5):
    bank = np.array(key_enc(mx.array((bank_x - mu) / sd)))
    probe = np.array(key_enc(mx.array((probe_x - mu) / sd)))
    sims = probe @ bank.T
    nn_idx = np.argsort(-sims, axis=1)[:, :k]
    votes = bank_y[nn_idx]
    pred = np.array([np.bincount(v, minlength=N_HIVES).argmax() for v in votes])
    return 100.0 * float((pred == probe_y).mean())


# the queue starts with the keys of one batch, grows by one batch per step up
# to QUEUE_CAP keys, then stays that size (oldest keys are dropped)
seed_idx = rng.integers(0, len(train_x), BATCH)
queue = key_enc(mx.array(augment(train_x[seed_idx])))
mx.eval(queue)

probe_before = knn_accuracy()
print(f"hive k-NN probe with the untrained key encoder: {probe_before:.1f}%")
print("┌──────┬───────┬────────────┬──────────┬───────────┬───────┐")
print("│ step │ queue │ InfoNCE    │ log(K+1) │ pos@1     │  secs │")
print("├──────┼───────┼────────────┼──────────┼───────────┼───────┤")

t0 = time.time()
window, hits = [], []
for step in range(1, STEPS + 1):
    idx = rng.integers(0, len(train_x), BATCH)
    xq = mx.array(augment(train_x[idx]))
    xk = mx.array(augment(train_x[idx]))
    k = mx.stop_gradient(key_enc(xk))

    (loss, hit), grads = loss_and_grad(query_enc, xq, k, queue)
    if step == 1:
        flat = tree_flatten(grads)
        dead = [name for name, g in flat if float(mx.abs(g).max()) == 0.0]
        print(f"│ grad check: {len(flat)} leaves, all-zero: {dead} │")
    opt.update(query_enc, grads)

    # momentum update of the key encoder (no gradient ever reaches it)
    new_key = tree_map(lambda kp, qp: EMA_DECAY * kp + (1 - EMA_DECAY) * qp,
                       key_enc.parameters(), query_enc.parameters())
    key_enc.update(new_key)

    queue = mx.concatenate([k, queue], axis=0)[:QUEUE_CAP]
    mx.eval(query_enc.parameters(), key_enc.parameters(), opt.state, loss, hit, queue)
    window.append(loss.item())
    hits.append(hit.item())

    if step in (1, 10, 25, 50, 100) or step % REPORT == 0:
        k_now = queue.shape[0]
        # log(K+1): the InfoNCE of an encoder that cannot tell keys apart
        print(f"│ {step:4d} │ {k_now:5d} │ {np.mean(window):10.4f} │ {np.log(k_now + 1):8.3f} │"
              f" {100 * np.mean(hits):8.1f}% │ {time.time() - t0:5.1f} │")
        window, hits = [], []

print("└──────┴───────┴────────────┴──────────┴───────────┴───────┘")
print("pos@1 = share of queries whose own key beats every queued key")
print(f"hive k-NN probe after training: {knn_accuracy():.1f}% "
      f"(chance {100.0 / N_HIVES:.1f}%); the queue ended at {queue.shape[0]} keys")
