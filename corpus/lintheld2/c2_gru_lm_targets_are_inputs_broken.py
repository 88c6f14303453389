# tiny recurrent language model on synthetic "counting" sequences:
# each sequence is start, start+k, start+2k, ... (mod VOCAB) for k in {1, 2, 3}
from dataclasses import dataclass
import time

import mlx.core as core
import mlx.nn as nn
from mlx.optimizers import Adam


@dataclass
class Cfg:
    vocab: int = 24
    seq_len: int = 12
    dim: int = 32
    batch: int = 32
    iters: int = 300
    lr: float = 1e-2
    seed: int = 3


class CharRNN(nn.Module):
    def __init__(self, cfg: Cfg):
        super().__init__()
        self.emb = nn.Embedding(cfg.vocab, cfg.dim)
        self.rnn = nn.GRU(cfg.dim, cfg.dim)
        self.out = nn.Linear(cfg.dim, cfg.vocab)

    def __call__(self, tokens):
        return self.out(self.rnn(self.emb(tokens)))


def sample_batch(cfg: Cfg):
    start = core.random.randint(0, cfg.vocab, (cfg.batch, 1))
    step = core.random.randint(1, 4, (cfg.batch, 1))
    pos = core.arange(cfg.seq_len)[None, :]
    return (start + step * pos) % cfg.vocab


def lm_objective(net, seq):
    logits = net(seq)
    return nn.losses.cross_entropy(logits, seq, reduction="mean")


def next_token_accuracy(net, seq):
    pred = core.argmax(net(seq[:, :-1]), axis=-1)
    # skip the first prediction: it needs two tokens to know the stride
    return (pred[:, 1:] == seq[:, 2:]).mean().item()


def run(cfg: Cfg):
    core.random.seed(cfg.seed)
    net = CharRNN(cfg)
    opt = Adam(learning_rate=cfg.lr)
    step_fn = nn.value_and_grad(net, lm_objective)
    it = 0
    t0 = time.time()
    while it < cfg.iters:
        seq = sample_batch(cfg)
        val, grads = step_fn(net, seq)
        opt.update(net, grads)
        core.eval(net.parameters(), opt.state)
        if it % 75 == 0 or it == cfg.iters - 1:
            print(f"it {it:4d}  train loss {val.item():.4f}")
        it += 1
    held_out = sample_batch(cfg)
    print(f"held-out next-token accuracy {next_token_accuracy(net, held_out):.3f}  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    run(Cfg())
