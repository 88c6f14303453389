"""Character-bigram style classifier whose gradients go through a chain of
transforms (clip by global norm, then optional weight-decay mask) before update."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map_with_path


class Config:
    vocab = 20
    dim = 16
    max_norm = 0.5
    lr = 1e-2
    steps = 300


def clip_transform(cfg):
    def fn(grads):
        return optim.clip_grad_norm(grads, cfg.max_norm)[0]
    return fn


def no_bias_grad_noise(grads):
    # keep biases as-is, tiny deterministic shrink on the rest
    return tree_map_with_path(lambda path, g: g if path.endswith("bias") else g * 0.999, grads)


class Tagger(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.emb = nn.Embedding(cfg.vocab, cfg.dim)
        self.proj = nn.Linear(cfg.dim, 3)

    def __call__(self, tok):
        return self.proj(self.emb(tok))


def main():
    cfg = Config()
    mx.random.seed(4)
    tagger = Tagger(cfg)
    opt = optim.Adam(learning_rate=cfg.lr)
    transforms = [clip_transform(cfg), no_bias_grad_noise]
    vg = nn.value_and_grad(tagger, lambda t, lab: nn.losses.cross_entropy(tagger(t), lab, reduction="mean"))
    for s in range(cfg.steps):
        tok = mx.random.randint(0, cfg.vocab, (128,))
        lab = tok % 3                      # tag = token id mod 3
        loss, grads = vg(tok, lab)
        for t in transforms:
            grads = t(grads)
        opt.update(tagger, grads)
        mx.eval(tagger.parameters(), opt.state, loss)
        if s % 60 == 0 or s == cfg.steps - 1:
            acc = mx.mean(mx.argmax(tagger(mx.arange(cfg.vocab)), axis=1) == mx.arange(cfg.vocab) % 3).item()
            print(f"step {s:3d} loss {loss.item():.4f} vocab-acc {acc:.3f}")


if __name__ == "__main__":
    main()
