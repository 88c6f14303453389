"""Toy VQA fine-tune: one <image> placeholder token is expanded into N_PATCH patch
embeddings before the decoder; the answer token is supervised, the prompt is masked.

Sequence before expansion:  [<image>, question, answer]
After expansion:            [p_1 .. p_N, question, answer]
"""
import time

import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_PATCH = 4
PATCH_DIM = 8
N_CLASS = 8          # image "content"
N_Q = 8              # question ids
N_ANS = 8            # answer ids
VOCAB = 1 + N_Q + N_ANS   # 0 = <image>
IMAGE_TOKEN = 0
IGNORE = -100
DIM = 48


def make_split(n, rng, protos):
    cls = rng.integers(0, N_CLASS, n)
    q = rng.integers(0, N_Q, n)
    ans = (cls + q) % N_ANS
    patches = protos[cls] + 0.3 * rng.normal(size=(n, N_PATCH, PATCH_DIM))
    ids = np.stack([np.full(n, IMAGE_TOKEN), 1 + q, 1 + N_Q + ans], axis=1)
    # next-token labels on the unexpanded ids: only the answer is supervised
    labels = np.full((n, 3), IGNORE)
    labels[:, 1] = ids[:, 2]
    return ids.astype(np.int32), labels.astype(np.int32), patches.astype(np.float32), ans


def expand_batch(ids, labels):
    """Expand the <image> placeholder into N_PATCH slots (input side)."""
    n, L = ids.shape
    new_len = L - 1 + N_PATCH
    exp_ids = np.concatenate([np.full((n, N_PATCH), IMAGE_TOKEN), ids[:, 1:]], axis=1)
    # labels must keep lining up with the inputs
    pad = np.full((n, new_len - L), IGNORE)
    exp_labels = np.concatenate([pad, labels], axis=1)
    return exp_ids.astype(np.int32), exp_labels.astype(np.int32)


class TinyVLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.proj = nn.Linear(PATCH_DIM, DIM)
        self.pos = nn.Embedding(16, DIM)
        self.attn = nn.MultiHeadAttention(DIM, 4)
        self.ln1 = nn.LayerNorm(DIM)
        self.ln2 = nn.LayerNorm(DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 4 * DIM), nn.GELU(), nn.Linear(4 * DIM, DIM))
        self.out = nn.Linear(DIM, VOCAB)

    def __call__(self, ids, patches):
        h = self.tok(ids)
        img = self.proj(patches)                      # (B, N_PATCH, DIM)
        h = mx.concatenate([img, h[:, N_PATCH:]], axis=1)
        L = h.shape[1]
        h = h + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        x = self.ln1(h)
        h = h + self.attn(x, x, x, mask=mask)
        h = h + self.mlp(self.ln2(h))
        return self.out(h)


def loss_fn(model, ids, patches, labels):
    logits = model(ids, patches)
    valid = labels != IGNORE
    tgt = mx.where(valid, labels, 0)
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    return (ce * valid).sum() / valid.sum()


def main():
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    protos = rng.normal(size=(N_CLASS, 1, PATCH_DIM))
    ids, labels, patches, _ = make_split(2048, rng, protos)
    v_ids, v_labels, v_patches, v_ans = make_split(512, rng, protos)
    ids, labels = expand_batch(ids, labels)
    v_ids, v_labels = expand_batch(v_ids, v_labels)
    ids, labels, patches = mx.array(ids), mx.array(labels), mx.array(patches)

    model = TinyVLM()
    opt = optim.Adam(learning_rate=2e-3)
    vg = nn.value_and_grad(model, loss_fn)
    bs, steps = 64, 300
    t0 = time.time()
    print(f"{'step':>5} | {'train_nll':>9} | {'val_acc':>7} | {'sec':>5}")
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, ids.shape[0], bs))
        loss, grads = vg(model, ids[idx], patches[idx], labels[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % 50 == 0:
            logits = model(mx.array(v_ids), mx.array(v_patches))
            # answer is predicted at the question position (index N_PATCH)
            pred = logits[:, N_PATCH, 1 + N_Q:].argmax(axis=-1)
            acc = (pred == mx.array(v_ans)).mean().item()
            print(f"{step:5d} | {loss.item():9.4f} | {acc:7.3f} | {time.time() - t0:5.1f}")


if __name__ == "__main__":
    main()
