"""Metric learning: an embedding net trained with a batch-hard triplet loss on
3-class synthetic data; reports how well nearest-centroid works on the embeddings."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def pairwise_distances(emb, eps=1e-6):
    diff = emb[:, None, :] - emb[None, :, :]
    sq = mx.sum(diff * diff, axis=-1)
    # guard against zero distances before they reach the loss
    return mx.sqrt(mx.clip(sq, eps * eps, None))


def batch_hard_triplet(emb, labels, margin=0.5):
    d = pairwise_distances(emb)
    same = labels[:, None] == labels[None, :]
    eye = mx.eye(labels.shape[0], dtype=mx.bool_)
    pos_mask = same & ~eye
    hardest_pos = mx.max(mx.where(pos_mask, d, 0.0), axis=1)
    hardest_neg = mx.min(mx.where(same, 1e9, d), axis=1)
    return mx.mean(nn.relu(hardest_pos - hardest_neg + margin))


class Embedder(nn.Module):
    def __init__(self, d_in=12, d_emb=4):
        super().__init__()
        self.l1 = nn.Linear(d_in, 32)
        self.l2 = nn.Linear(32, d_emb)

    def __call__(self, x):
        return self.l2(nn.tanh(self.l1(x)))


def data(n, key):
    k1, k2, k3 = mx.random.split(key, 3)
    labels = mx.random.randint(0, 3, (n,), key=k1)
    centers = mx.random.normal((3, 12), key=k2)
    return centers[labels] + 0.8 * mx.random.normal((n, 12), key=k3), labels


def centroid_acc(net, x, y):
    e = net(x)
    onehot = (y[:, None] == mx.arange(3)[None, :]).astype(e.dtype)
    cents = (onehot.T @ e) / mx.sum(onehot, axis=0)[:, None]
    pred = mx.argmin(mx.sum((e[:, None] - cents[None]) ** 2, axis=-1), axis=1)
    return mx.mean(pred == y).item()


def main():
    mx.random.seed(0)
    x, y = data(96, mx.random.key(5))
    net = Embedder()
    opt = optim.AdamW(learning_rate=3e-3)
    grad_fn = nn.value_and_grad(net, lambda xb, yb: batch_hard_triplet(net(xb), yb))
    for step in range(300):
        loss, grads = grad_fn(x, y)
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state, loss)
        if step % 50 == 0 or step == 299:
            print(f"step {step:3d} triplet {loss.item():.4f} centroid-acc {centroid_acc(net, x, y):.3f}")


if __name__ == "__main__":
    main()
