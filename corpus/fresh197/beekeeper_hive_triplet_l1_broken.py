# Re-identify beehives from their acoustic hum: triplet-loss embedding with an
# L1 (Manhattan) distance, because hum spectra have a few spiky bands.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
N_HIVES, N_BANDS, EMB = 40, 32, 8

# each hive has a hidden hum profile; a recording is the profile + weather noise
profiles = mx.random.normal((N_HIVES, N_BANDS))


def record(hive_ids):
    x = profiles[hive_ids]
    return x + 1.3 * mx.random.normal(x.shape)


def triplet_loss(anchors, positives, negatives, p=2, margin=1.0, eps=1e-6):
    loss = mx.maximum(
        mx.sqrt(mx.power(anchors - positives, p).sum(-1) + eps)
        - mx.sqrt(mx.power(anchors - negatives, p).sum(-1) + eps)
        + margin,
        0,
    )
    return loss.mean()


class HumNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_BANDS, 64)
        self.l2 = nn.Linear(64, EMB)

    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(x)))


model = HumNet()
opt = optim.Adam(learning_rate=1e-3)


def loss_fn(model, a, p, n):
    return triplet_loss(model(a), model(p), model(n), p=1, margin=1.0)


step_fn = nn.value_and_grad(model, loss_fn)


def sample_batch(bs=256):
    h = mx.random.randint(0, N_HIVES, (bs,))
    off = mx.random.randint(1, N_HIVES, (bs,))
    neg = (h + off) % N_HIVES
    return record(h), record(h), record(neg)


def reid_accuracy():
    gallery = model(profiles)
    hives = mx.arange(N_HIVES * 20) % N_HIVES
    q = model(record(hives))
    d = mx.abs(q[:, None, :] - gallery[None, :, :]).sum(-1)
    return (mx.argmin(d, axis=1) == hives).mean().item()


t0 = time.time()
print("hive re-id | triplet(L1) | 300 steps")
for step in range(1, 301):
    a, p, n = sample_batch()
    loss, grads = step_fn(model, a, p, n)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step == 1 or step % 30 == 0:
        print(f"step {step:4d}  triplet {loss.item():.4f}  re-id acc {100*reid_accuracy():5.1f}%")
print(f"done in {time.time()-t0:.1f}s  final re-id acc {100*reid_accuracy():.1f}%")
