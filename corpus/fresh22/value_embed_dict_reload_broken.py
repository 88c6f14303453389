"""Two-stage run: base pretraining of a tiny char GPT, checkpoint, then SFT from the checkpoint.

Value embeddings (ResFormer style) are added on alternating layers.
"""
import json
import os
import random
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEQ = 24
N_LAYER = 4
N_EMBD = 32
N_HEAD = 2


def has_ve(i, n_layer):
    return i % 2 == (n_layer - 1) % 2


def make_corpus(seed, n_sent, style):
    rng = random.Random(seed)
    subj = ["the cat", "a dog", "my friend", "the robot", "our teacher", "a bird"]
    verb = ["sees", "likes", "finds", "builds", "paints", "follows"]
    obj = ["a tree", "the river", "some bread", "a red box", "the moon", "two stones"]
    out = []
    for _ in range(n_sent):
        s = f"{rng.choice(subj)} {rng.choice(verb)} {rng.choice(obj)}."
        if style == "qa":
            s = "q: what happens? a: " + s
        out.append(s)
    return " ".join(out)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(N_EMBD)
        self.attn = nn.MultiHeadAttention(N_EMBD, N_HEAD)
        self.ln2 = nn.LayerNorm(N_EMBD)
        self.mlp = nn.Sequential(nn.Linear(N_EMBD, 4 * N_EMBD), nn.GELU(), nn.Linear(4 * N_EMBD, N_EMBD))

    def __call__(self, x, ve, mask):
        h = self.ln1(x)
        if ve is not None:
            h = h + ve
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.wte = nn.Embedding(vocab, N_EMBD)
        self.wpe = nn.Embedding(SEQ, N_EMBD)
        self.h = [Block() for _ in range(N_LAYER)]
        # value embeddings on alternating layers
        self.value_embeds = {
            str(i): nn.Embedding(vocab, N_EMBD) for i in range(N_LAYER) if has_ve(i, N_LAYER)
        }
        self.ln_f = nn.LayerNorm(N_EMBD)
        self.lm_head = nn.Linear(N_EMBD, vocab, bias=False)

    def __call__(self, idx):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for i, block in enumerate(self.h):
            key = str(i)
            ve = self.value_embeds[key](idx) if key in self.value_embeds else None
            x = block(x, ve, mask)
        return self.lm_head(self.ln_f(x))


def batches(ids, bs, rng):
    n = len(ids) - SEQ - 1
    while True:
        starts = [rng.randrange(n) for _ in range(bs)]
        xb = mx.array([ids[s:s + SEQ] for s in starts])
        yb = mx.array([ids[s + 1:s + SEQ + 1] for s in starts])
        yield xb, yb


def train(model, ids, steps, lr, tag, log_every, rng):
    opt = optim.AdamW(learning_rate=lr, weight_decay=0.0)

    def loss_fn(m, xb, yb):
        logits = m(xb)
        return nn.losses.cross_entropy(logits, yb, reduction="mean")

    lg = nn.value_and_grad(model, loss_fn)
    it = batches(ids, 8, rng)
    t0 = time.time()
    for step in range(1, steps + 1):
        xb, yb = next(it)
        loss, grads = lg(model, xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % log_every == 0 or step == 1:
            if tag == "base":
                print(f"[base] step {step:4d}/{steps} | loss {loss.item():.4f} | {time.time() - t0:5.1f}s", flush=True)
            else:
                print(json.dumps({"phase": tag, "step": step, "loss": round(loss.item(), 4)}), flush=True)


def main():
    mx.random.seed(0)
    rng = random.Random(0)
    base_text = make_corpus(1, 3000, "plain")
    sft_text = make_corpus(2, 1500, "qa")
    chars = sorted(set(base_text + sft_text))
    stoi = {c: i for i, c in enumerate(chars)}
    base_ids = [stoi[c] for c in base_text]
    sft_ids = [stoi[c] for c in sft_text]
    vocab = len(chars)

    ckpt_dir = tempfile.mkdtemp(prefix="tinygpt_")
    ckpt = os.path.join(ckpt_dir, "base.safetensors")

    # ---- stage 1: base pretraining
    model = GPT(vocab)
    mx.eval(model.parameters())
    train(model, base_ids, 100, 3e-3, "base", 20, rng)
    model.save_weights(ckpt)
    print(f"saved base checkpoint -> {ckpt}", flush=True)
    del model

    # ---- stage 2: SFT starting from the base checkpoint
    sft_model = GPT(vocab)
    sft_model.load_weights(ckpt)
    mx.eval(sft_model.parameters())
    print("loaded base checkpoint for SFT", flush=True)
    train(sft_model, sft_ids, 80, 1e-3, "sft", 20, rng)
    print("finished")


if __name__ == "__main__":
    main()
