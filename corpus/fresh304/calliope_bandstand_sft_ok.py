# Supervised fine-tuning of a tiny conditioned token decoder (toy "realtime music"
# model): a style token and two guidance (CFG) tokens select rows of one shared
# encoder-embedding table; the decoder is trained with teacher forcing on codec-like
# token frames and then sampled greedily, token by token, the way it is used live.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

NUM_RESERVED_TOKENS = 6          # pad / bos / eos / mask / ... rows at the start of every block
num_extra_tokens = NUM_RESERVED_TOKENS

N_STYLE = 4                      # style vocabulary (this channel has a dropout slot)
CFG_VOCABS = [5, 3]              # two guidance channels, no dropout
N_CODES = 16                     # codec vocabulary of the generated frames
FRAME = 6                        # tokens per generated frame
BOS = N_CODES

# encoder-embedding layout: one block per channel, padded to a multiple of 8
STYLE_BLOCK = N_STYLE + num_extra_tokens + 1
CFG_BLOCKS = [v + num_extra_tokens for v in CFG_VOCABS]
BLOCK_STARTS = [0]
for size in [STYLE_BLOCK] + CFG_BLOCKS[:-1]:
    BLOCK_STARTS.append(BLOCK_STARTS[-1] + size)
TABLE_ROWS = int(math.ceil((BLOCK_STARTS[-1] + CFG_BLOCKS[-1]) / 8.0) * 8)


def target_frame(style, cfg_a, cfg_b):
    t = np.arange(FRAME)[None, :]
    return (style[:, None] * 5 + cfg_a[:, None] * (t + 1) + cfg_b[:, None] * 2) % N_CODES


def prepare_source_tokens(style, cfgs, drop_mask):
    """Training-side conditioning rows (style may be dropped for CFG training)."""
    style_rows = np.where(drop_mask, num_extra_tokens, style + num_extra_tokens + 1)
    rows = [BLOCK_STARTS[0] + style_rows]
    for ch, tok in enumerate(cfgs):
        rows.append(BLOCK_STARTS[ch + 1] + tok + num_extra_tokens + 1)
    return np.stack(rows, axis=1).astype(np.int32)


def build_conditioning_rows(style, cfgs):
    """Generation-side conditioning rows, as used when the model plays live."""
    toks = [style] + list(cfgs)
    rows = [BLOCK_STARTS[i] + t + NUM_RESERVED_TOKENS + 1 for i, t in enumerate(toks)]
    return np.stack(rows, axis=1).astype(np.int32)


class Decoder(nn.Module):
    def __init__(self, dim=64, heads=4):
        super().__init__()
        self.cond_emb = nn.Embedding(TABLE_ROWS, dim)
        self.tok_emb = nn.Embedding(N_CODES + 1, dim)
        self.pos_emb = nn.Embedding(FRAME, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.out = nn.Linear(dim, N_CODES)

    def __call__(self, cond_rows, tokens):
        L = tokens.shape[1]
        ctx = self.cond_emb(cond_rows).sum(axis=1, keepdims=True)
        h = self.tok_emb(tokens) + self.pos_emb(mx.arange(L)) + ctx
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        x = self.norm1(h)
        h = h + self.attn(x, x, x, mask=mask)
        h = h + self.ff(self.norm2(h))
        return self.out(h)


def loss_fn(model, cond_rows, inputs, targets):
    logits = model(cond_rows, inputs)
    return nn.losses.cross_entropy(logits, targets, reduction="mean")


def generate(model, cond_rows):
    toks = mx.full((cond_rows.shape[0], 1), BOS, dtype=mx.int32)
    for _ in range(FRAME):
        logits = model(cond_rows, toks)
        nxt = mx.argmax(logits[:, -1, :], axis=-1).astype(mx.int32)
        toks = mx.concatenate([toks, nxt[:, None]], axis=1)
    return toks[:, 1:]


def sample_batch(rng, n):
    style = rng.integers(0, N_STYLE, n)
    cfgs = [rng.integers(0, v, n) for v in CFG_VOCABS]
    return style, cfgs


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    model = Decoder()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    step_fn = nn.value_and_grad(model, loss_fn)

    # evaluation set: every (style, cfg_a, cfg_b) combination
    grid = np.array(np.meshgrid(np.arange(N_STYLE), np.arange(CFG_VOCABS[0]),
                                np.arange(CFG_VOCABS[1]), indexing="ij")).reshape(3, -1)
    ev_style, ev_cfgs = grid[0], [grid[1], grid[2]]
    ev_target = target_frame(ev_style, ev_cfgs[0], ev_cfgs[1])
    ev_train_rows = mx.array(prepare_source_tokens(ev_style, ev_cfgs, np.zeros(len(ev_style), bool)))
    ev_live_rows = mx.array(build_conditioning_rows(ev_style, ev_cfgs))
    ev_in = mx.array(np.concatenate([np.full((len(ev_style), 1), BOS), ev_target[:, :-1]], 1).astype(np.int32))
    ev_tg = mx.array(ev_target.astype(np.int32))

    print(f"table rows {TABLE_ROWS}, blocks at {BLOCK_STARTS}, eval combos {len(ev_style)}")
    t0 = time.time()
    steps, batch = 240, 64
    for step in range(1, steps + 1):
        style, cfgs = sample_batch(rng, batch)
        drop = rng.random(batch) < 0.1
        tgt = target_frame(style, cfgs[0], cfgs[1])
        rows = mx.array(prepare_source_tokens(style, cfgs, drop))
        inp = mx.array(np.concatenate([np.full((batch, 1), BOS), tgt[:, :-1]], 1).astype(np.int32))
        loss, grads = step_fn(model, rows, inp, mx.array(tgt.astype(np.int32)))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 40 == 0:
            val = loss_fn(model, ev_train_rows, ev_in, ev_tg)
            gen = generate(model, ev_live_rows)
            tok_acc = (gen == ev_tg).astype(mx.float32).mean().item()
            frame_acc = (gen == ev_tg).all(axis=1).astype(mx.float32).mean().item()
            print(f"step {step:4d}  train_ce {loss.item():.4f}  val_ce {val.item():.4f}  "
                  f"gen_token_acc {tok_acc:.3f}  gen_frame_acc {frame_acc:.3f}  ({time.time() - t0:.1f}s)")

    gen = generate(model, ev_live_rows)
    frame_acc = (gen == ev_tg).all(axis=1).astype(mx.float32).mean().item()
    print(f"final: live greedy frames matching the score {frame_acc * 100:.1f}% "
          f"(chance per token {1 / N_CODES:.3f})")


if __name__ == "__main__":
    main()
