"""Bag-of-tokens classifier: keep the 'pretrained' embedding and final norm frozen."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

# layers that come from the pretrained checkpoint and must not be trained
FROZEN_LAYERS = ["tok_emb", "ln_f"]


class TokenClassifier(nn.Module):
    def __init__(self, vocab, dim, n_cls):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab, dim)
        self.ln_f = nn.RMSNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.cls = nn.Linear(dim, n_cls)

    def __call__(self, toks):
        h = self.tok_emb(toks).mean(axis=1)
        return self.cls(self.ln_f(h + self.mlp(h)))


def load_pretrained_embedding(net, vocab, dim):
    # stand-in for a checkpoint: token groups already live in separate directions
    ids = mx.arange(vocab)[:, None]
    table = 0.3 * mx.random.normal((vocab, dim))
    table = table + 2.0 * (ids < 10) * (mx.arange(dim)[None, :] == 0) + 2.0 * (ids >= 40) * (mx.arange(dim)[None, :] == 1)
    net.tok_emb.weight = table


def freeze_pretrained(net, names):
    for path, mod in net.named_modules():
        if path.split(".")[-1] in names:
            mod.freeze()


class DriftMonitor:
    """Callback: reports how far the pretrained embedding moved."""

    def __init__(self, net):
        self.ref = mx.array(net.tok_emb.weight)

    def __call__(self, epoch, net, loss):
        d = (mx.linalg.norm(net.tok_emb.weight - self.ref) / mx.linalg.norm(self.ref)).item()
        print(f"[epoch {epoch}] loss {loss:.4f}  tok_emb drift {d:.4f}")
        return d


def run(callbacks, net, toks, labels, epochs=6, bs=64):
    opt = optim.RMSprop(learning_rate=3e-3)
    step = nn.value_and_grad(net, lambda m, t, y: nn.losses.cross_entropy(m(t), y, reduction="mean"))
    for ep in range(epochs):
        for i in range(0, toks.shape[0], bs):
            loss, grads = step(net, toks[i:i + bs], labels[i:i + bs])
            opt.update(net, grads)
            mx.eval(net.parameters(), opt.state)
        for cb in callbacks:
            cb(ep, net, loss.item())


if __name__ == "__main__":
    mx.random.seed(21)
    vocab, seq = 50, 12
    toks = mx.random.randint(0, vocab, (768, seq))
    labels = ((toks < 10).sum(axis=1) > (toks >= 40).sum(axis=1)).astype(mx.int32)
    net = TokenClassifier(vocab, 16, 2)
    load_pretrained_embedding(net, vocab, 16)
    freeze_pretrained(net, FROZEN_LAYERS)
    run([DriftMonitor(net)], net, toks, labels)
    acc = mx.mean(mx.argmax(net(toks), axis=1) == labels).item()
    print(f"acc {acc:.3f}")
