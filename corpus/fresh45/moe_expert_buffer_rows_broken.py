# Per-token tagging with a tiny Qwen2-MoE-style sparse block (shared expert +
# top-2 routed experts, training path dispatches tokens with np.where).
import logging
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("moe-tagger")

VOCAB, N_TAGS, DIM, N_EXP, TOPK = 40, 5, 32, 4, 2
SEQ, BATCH = 12, 16


class MoeMLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)

    def __call__(self, x):
        return self.down_proj(nn.silu(self.gate_proj(x)) * self.up_proj(x))


class SparseMoeBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.top_k = TOPK
        self.gate = nn.Linear(DIM, N_EXP, bias=False)
        self.experts = [MoeMLP(DIM, 2 * DIM) for _ in range(N_EXP)]
        self.shared_expert = MoeMLP(DIM, 2 * DIM)
        self.shared_expert_gate = nn.Linear(DIM, 1, bias=False)

    def __call__(self, x):
        ne = self.top_k
        B, L, D = x.shape
        x = x.reshape(-1, D)
        gates = mx.softmax(self.gate(x).astype(mx.float32), axis=-1)
        inds = mx.stop_gradient(mx.argpartition(-gates, kth=ne, axis=-1)[:, :ne])
        scores = mx.take_along_axis(gates, inds, axis=-1).astype(x.dtype)
        if self.training:
            inds = np.array(inds)
            y = mx.zeros((B, ne, D), x.dtype)
            for e, expert in enumerate(self.experts):
                idx1, idx2 = map(mx.array, np.where(inds == e))
                if idx1.size == 0:
                    continue
                y[idx1, idx2] = expert(x[idx1])
            y = (y * scores[:, :, None]).sum(axis=1)
        else:
            y = []
            for xt, st, it in zip(x, scores, inds.tolist()):
                yt = mx.stack([self.experts[e](xt) for e in it], axis=-1)
                y.append((yt * st).sum(axis=-1))
            y = mx.stack(y, axis=0)
        shared = mx.sigmoid(self.shared_expert_gate(x)) * self.shared_expert(x)
        y = y + shared
        return y.reshape(B, L, -1)


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.conv_mix = nn.Linear(3 * DIM, DIM)
        self.norm = nn.RMSNorm(DIM)
        self.moe = SparseMoeBlock()
        self.head = nn.Linear(DIM, N_TAGS)

    def __call__(self, tokens):
        h = self.embed(tokens)
        left = mx.pad(h, [(0, 0), (1, 0), (0, 0)])[:, :-1]
        right = mx.pad(h, [(0, 0), (0, 1), (0, 0)])[:, 1:]
        h = self.conv_mix(mx.concatenate([left, h, right], axis=-1))
        h = h + self.moe(self.norm(h))
        return self.head(h)


def make_batch(rng, n):
    tok = rng.integers(0, VOCAB, size=(n, SEQ))
    prev = np.concatenate([np.zeros((n, 1), int), tok[:, :-1]], axis=1)
    tags = (tok % 5 + (prev > VOCAB // 2)) % N_TAGS  # tag depends on token + left neighbour
    return mx.array(tok), mx.array(tags)


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    model = Tagger()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
    xv, yv = make_batch(rng, 256)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    step_fn = nn.value_and_grad(model, loss_fn)
    log.info("start: vocab=%d tags=%d experts=%d top_k=%d seq=%d batch=%d",
             VOCAB, N_TAGS, N_EXP, TOPK, SEQ, BATCH)
    t0 = time.time()
    run = []
    for it in range(1, 401):
        model.train()
        x, y = make_batch(rng, BATCH)
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        run.append(loss.item())
        if it % 50 == 0:
            model.eval()
            acc = (mx.argmax(model(xv[:64]), axis=-1) == yv[:64]).mean().item()
            log.info("iter %4d | train_ce %.4f | val_tag_acc %.3f | %.1fs",
                     it, sum(run) / len(run), acc, time.time() - t0)
            run = []
    log.info("done in %.1fs (chance acc %.2f)", time.time() - t0, 1 / N_TAGS)


if __name__ == "__main__":
    main()
