# Tiny multi-codebook "speech codec" language model, CSM-style:
# every frame holds 3 audio codebook tokens plus one text/speaker column.
# The backbone sees the summed embeddings of a frame and must predict the
# audio tokens of the NEXT frame for every codebook.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V = 16          # audio vocab per codebook
K = 3           # audio codebooks
T_VOCAB = 4     # text / speaker tokens
SEQ = 12
N_TRAIN, N_VAL = 512, 128

rng = np.random.default_rng(7)
STEP = rng.integers(1, V, size=(T_VOCAB, K))      # per-speaker drift of each codebook


def make_clips(n):
    spk = rng.integers(0, T_VOCAB, size=n)
    frames = np.zeros((n, SEQ, K + 1), dtype=np.int32)
    frames[:, 0, :K] = rng.integers(0, V, size=(n, K))
    for t in range(1, SEQ):
        frames[:, t, :K] = (frames[:, t - 1, :K] + STEP[spk]) % V
    frames[:, :, K] = spk[:, None]
    masks = np.ones_like(frames, dtype=np.float32)
    # ragged clips: pad the tail of some clips
    lens = rng.integers(SEQ - 4, SEQ + 1, size=n)
    for i, L in enumerate(lens):
        masks[i, L:, :] = 0.0
    return mx.array(frames), mx.array(masks)


train_tok, train_msk = make_clips(N_TRAIN)
val_tok, val_msk = make_clips(N_VAL)


class CodecLM(nn.Module):
    def __init__(self, dim=64, hidden=128):
        super().__init__()
        self.audio_embed = [nn.Embedding(V, dim) for _ in range(K)]
        self.text_embed = nn.Embedding(T_VOCAB, dim)
        self.backbone = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(),
                                      nn.Linear(hidden, hidden), nn.GELU())
        self.heads = [nn.Linear(hidden, V) for _ in range(K)]

    def embed_tokens(self, tokens):
        parts = [self.audio_embed[k](tokens[..., k]) for k in range(K)]
        parts.append(self.text_embed(tokens[..., K]))
        return mx.stack(parts, axis=-2)          # (B, S, K+1, dim)

    def __call__(self, tokens, masks):
        emb = self.embed_tokens(tokens) * mx.expand_dims(masks, -1)
        h = self.backbone(emb.sum(-2))           # (B, S, hidden)
        return [head(h) for head in self.heads]  # K x (B, S, V)


def compute_loss(model, tokens, masks):
    audio_tokens = tokens[:, :, :K]
    logits = model(tokens, masks)
    shifted_audio_tokens = audio_tokens
    shifted_audio_masks = masks[:, :, :K]
    total = 0.0
    per_cb = []
    for k in range(K):
        ce = nn.losses.cross_entropy(logits[k], shifted_audio_tokens[..., k], reduction="none")
        m = shifted_audio_masks[..., k]
        ck = (ce * m).sum() / m.sum()
        per_cb.append(ck)
        total = total + ck / K
    return total, mx.stack(per_cb)


def rollout_accuracy(model, tokens, steps=8):
    """Greedy continuation from the first frame; compare with the true clip."""
    cur = tokens[:, :1, :]
    hits = []
    for t in range(1, steps + 1):
        logits = model(cur, mx.ones(cur.shape))
        nxt = mx.stack([mx.argmax(lg[:, -1, :], axis=-1) for lg in logits], axis=-1)
        frame = mx.concatenate([nxt, tokens[:, t, K:]], axis=-1).astype(mx.int32)
        hits.append((nxt == tokens[:, t, :K]).astype(mx.float32).mean())
        cur = mx.concatenate([cur, frame[:, None, :]], axis=1)
    return mx.stack(hits).mean().item()


mx.random.seed(3)
model = CodecLM()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(model, compute_loss)

BATCH = 64
EPOCHS = 15
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(N_TRAIN))
    run, nb = 0.0, 0
    for s in range(0, N_TRAIN, BATCH):
        idx = perm[s:s + BATCH]
        (loss, per_cb), grads = loss_and_grad(model, train_tok[idx], train_msk[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, per_cb)
        run += loss.item()
        nb += 1
    if epoch % 3 == 0 or epoch == 1:
        vl, vcb = compute_loss(model, val_tok, val_msk)
        cb = " ".join(f"c{k}={v:.3f}" for k, v in enumerate(vcb.tolist()))
        print(f"[ep {epoch:02d}] tf_loss={run / nb:.4f} val_tf={vl.item():.4f} ({cb})")

acc = rollout_accuracy(model, val_tok)
print(f"rollout frame-acc (8 steps, greedy, val) = {acc * 100:.1f}%")
print(f"done in {time.time() - t0:.1f}s")
