# Small "clustered vocabulary" head, in the style of a speculative-decoding
# drafter: a centroid classifier picks a cluster, and a static ordering table
# maps cluster slots to the real token ids used by the sparse decode path.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, N_CENT, DIM, HID = 64, 8, 16, 48
PER = VOCAB // N_CENT
mx.random.seed(7)

# synthetic data: each token id has a prototype vector; tokens of a cluster share a direction
perm = mx.random.permutation(VOCAB)
cluster_of = mx.zeros((VOCAB,), dtype=mx.int32)
cluster_of[perm] = mx.arange(VOCAB) // PER
cent_dir = mx.random.normal((N_CENT, DIM)) * 2.0
protos = cent_dir[cluster_of] + 0.7 * mx.random.normal((VOCAB, DIM))


def sample(n):
    y = mx.random.randint(0, VOCAB, (n,))
    x = protos[y] + 0.5 * mx.random.normal((n, DIM))
    return x, y


class MaskedEmbedder(nn.Module):
    def __init__(self):
        super().__init__()
        self.centroids = nn.Linear(HID, N_CENT, bias=False)
        # token_ordering[c*PER:(c+1)*PER] holds the token ids assigned to centroid c
        # (static table loaded from the checkpoint / clustering step)
        self.token_ordering = mx.zeros((VOCAB,), dtype=mx.int32)

    def sparse_logits(self, h, lm_head_weight):
        c = mx.argmax(self.centroids(h), axis=-1)                      # (B,)
        slots = c[:, None] * PER + mx.arange(PER)[None, :]             # (B, PER)
        ids = mx.take(self.token_ordering, slots)                      # (B, PER) token ids
        w = mx.take(lm_head_weight, ids, axis=0)                       # (B, PER, HID)
        scores = (w @ h[:, :, None]).squeeze(-1)
        best = mx.argmax(scores, axis=-1)
        return mx.take_along_axis(ids, best[:, None], axis=-1).squeeze(-1)


class Drafter(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(DIM, HID), nn.GELU(), nn.Linear(HID, HID), nn.GELU())
        self.lm_head = nn.Linear(HID, VOCAB, bias=False)
        self.embedder = MaskedEmbedder()

    def __call__(self, x):
        h = self.trunk(x)
        return h, self.lm_head(h), self.embedder.centroids(h)


model = Drafter()
model.embedder.token_ordering = mx.argsort(cluster_of).astype(mx.int32)  # "loaded" table
mx.eval(model.parameters())


def loss_fn(model, x, y):
    _, logits, cent = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean") + \
        0.5 * nn.losses.cross_entropy(cent, cluster_of[y], reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
xv, yv = sample(512)


def evaluate():
    h, _, _ = model(xv)
    pred = model.embedder.sparse_logits(h, model.lm_head.weight)
    return (pred == yv).astype(mx.float32).mean().item()


t0 = time.time()
print(f"initial sparse-decode acc {evaluate():.3f}")
for step in range(1, 601):
    x, y = sample(64)
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 25 == 0:
        print(f"step {step:4d}  loss {loss.item():.4f}  ({time.time()-t0:.1f}s)")
    if step % 100 == 0:
        print(f"  [eval] step {step}  sparse-decode acc {evaluate():.3f}")
print("done")
