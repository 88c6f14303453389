"""Classifier trained with cross-entropy plus a margin term on the current
top-scoring wrong class (hard-negative margin)."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def detach(a):
    return mx.stop_gradient(a)


def hardest_negative(logits, labels):
    masked = mx.where(mx.arange(logits.shape[-1])[None, :] == labels[:, None], -1e9, logits)
    return detach(mx.argmax(masked, axis=-1, keepdims=True))


def margin_xent(net, x, y, margin=1.0):
    logits = net(x)
    neg = hardest_negative(logits, y)
    pos_score = mx.take_along_axis(logits, y[:, None], axis=-1)
    neg_score = mx.take_along_axis(logits, neg, axis=-1)
    hinge = mx.maximum(0.0, margin - pos_score + neg_score).mean()
    return nn.losses.cross_entropy(logits, y, reduction="mean") + 0.5 * hinge


def main():
    mx.random.seed(21)
    protos = mx.random.normal((6, 20)) * 1.5
    labels = mx.random.randint(0, 6, (1200,))
    feats = protos[labels] + 2.5 * mx.random.normal((1200, 20))
    net = nn.Sequential(nn.Linear(20, 48), nn.ReLU(), nn.Linear(48, 6))
    opt = optim.AdamW(learning_rate=2e-3)
    grad_fn = nn.value_and_grad(net, margin_xent)
    print(f"initial loss {margin_xent(net, feats, labels).item():.4f}")
    for epoch in range(8):
        for i in range(0, 1200, 100):
            loss, g = grad_fn(net, feats[i:i + 100], labels[i:i + 100])
            opt.update(net, g)
            mx.eval(net.parameters(), opt.state)
        acc = (mx.argmax(net(feats), -1) == labels).mean().item()
        print(f"epoch {epoch} loss {loss.item():.4f} acc {acc:.3f}")


if __name__ == "__main__":
    main()
