"""Pretrain a feature extractor on task A, then fit a new head for task B with the extractor frozen."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map


class Net(nn.Module):
    def __init__(self, d_in, d_feat, n_out):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(d_in, d_feat), nn.ReLU(), nn.Linear(d_feat, d_feat), nn.ReLU())
        self.head = nn.Linear(d_feat, n_out)

    def __call__(self, x):
        return self.head(self.backbone(x))


def task(n, d, n_cls, seed):
    k1, k2 = mx.random.split(mx.random.key(seed))
    x = mx.random.normal((n, d), key=k1)
    proj = mx.random.normal((d, n_cls), key=k2)
    return x, mx.argmax(mx.tanh(x @ proj) + 0.5 * x[:, :n_cls], axis=1)


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def fit(model, opt, x, y, steps, bs=64, grad_hook=None):
    vg = nn.value_and_grad(model, ce)
    for s in range(steps):
        idx = mx.random.randint(0, x.shape[0], (bs,))
        loss, grads = vg(model, x[idx], y[idx])
        if grad_hook is not None:
            grads = grad_hook(grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
    acc = (mx.argmax(model(x), axis=1) == y).mean().item()
    return loss.item(), acc


def zero_backbone(grads):
    grads["backbone"] = tree_map(mx.zeros_like, grads["backbone"])
    return grads


def main():
    mx.random.seed(0)
    d = 16
    xa, ya = task(2000, d, 4, seed=1)
    xb, yb = task(2000, d, 3, seed=2)

    net = Net(d, 32, 4)
    mx.eval(net.parameters())
    print("pretrain (task A): loss %.3f acc %.3f" % fit(net, optim.Adam(learning_rate=3e-3), xa, ya, 400))

    feats = {k: mx.array(v) for k, v in tree_flatten(net.backbone.parameters())}
    net.head = nn.Linear(32, 3)
    probe_opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.1)
    print("probe    (task B): loss %.3f acc %.3f" % fit(net, probe_opt, xb, yb, 600, grad_hook=zero_backbone))

    drift = {k: (mx.linalg.norm(v - feats[k]) / mx.linalg.norm(feats[k])).item()
             for k, v in tree_flatten(net.backbone.parameters())}
    print("backbone relative drift:", {k: round(v, 4) for k, v in drift.items()})


if __name__ == "__main__":
    main()
