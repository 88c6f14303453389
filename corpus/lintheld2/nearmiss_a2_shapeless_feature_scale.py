"""Attention-pooling set classifier; the scoring helper is compiled shapeless because the
set size and the batch size change from batch to batch (the feature width never does)."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

FEAT = 16


def attention_pool(query, items):
    # items: (batch, set_size, FEAT); the scale uses the feature width only
    scale = items.shape[-1] ** -0.5
    scores = (items @ query) * scale                 # (batch, set_size)
    weights = mx.softmax(scores, axis=-1)
    return (weights[..., None] * items).sum(axis=1)


pool_fn = mx.compile(attention_pool, shapeless=True)


class SetClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(3, FEAT)
        self.query = mx.random.normal((FEAT,)) * 0.1
        self.head = nn.Linear(FEAT, 2)

    def __call__(self, pts, compiled=True):
        h = nn.relu(self.embed(pts))
        pooled = (pool_fn if compiled else attention_pool)(self.query, h)
        return self.head(pooled)


def random_sets(key, batch, size):
    """Label 1 if the set contains a point far from the origin."""
    k1, k2 = mx.random.split(key)
    pts = mx.random.normal((batch, size, 3), key=k1) * 0.5
    lab = mx.random.randint(0, 2, (batch,), key=k2)
    outlier = mx.zeros((batch, size, 3)).at[:, 0, :].add(3.0 * lab[:, None].astype(mx.float32))
    return pts + outlier, lab


def main():
    mx.random.seed(0)
    clf = SetClassifier()
    opt = optim.Adam(learning_rate=5e-3)
    vg = nn.value_and_grad(clf, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
    key = mx.random.key(0)
    for step in range(300):
        key, sub = mx.random.split(key)
        batch, size = [(32, 5), (16, 9), (48, 3)][step % 3]
        x, y = random_sets(sub, batch, size)
        loss, grads = vg(clf, x, y)
        opt.update(clf, grads)
        mx.eval(clf.parameters(), opt.state)
        if step % 60 == 0:
            print(f"step {step:3d} (batch {batch}, set {size}) loss {loss.item():.4f}")
    for b, s in [(7, 4), (64, 11)]:
        x, y = random_sets(mx.random.key(b), b, s)
        gap = mx.abs(clf(x) - clf(x, compiled=False)).max().item()
        acc = (mx.argmax(clf(x), axis=1) == y).astype(mx.float32).mean().item()
        print(f"eval batch {b} set {s}: acc {acc:.3f}, compiled-vs-eager max diff {gap:.2e}")


if __name__ == "__main__":
    main()
