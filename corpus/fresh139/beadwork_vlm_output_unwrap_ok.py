# Tiny VLM-style SFT: a bead-strand "photo" (8 beads, colour intensities) is
# captioned as the colour sequence. The model follows the newer mlx-vlm return
# convention and hands back a LanguageModelOutput dataclass.
from dataclasses import dataclass
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N_COLOURS, N_BEADS, PATCH = 6, 8, 5
BOS, ASSIST, PAD = N_COLOURS, N_COLOURS + 1, N_COLOURS + 2
VOCAB = N_COLOURS + 3
PALETTE = rng.normal(size=(N_COLOURS, PATCH)).astype(np.float32)


def make_batch(n):
    cols = rng.integers(0, N_COLOURS, size=(n, N_BEADS))
    pix = PALETTE[cols] + 0.25 * rng.normal(size=(n, N_BEADS, PATCH)).astype(np.float32)
    prompt = np.full((n, 2), [BOS, ASSIST])
    ids = np.concatenate([prompt, cols], axis=1)
    return {"input_ids": mx.array(ids), "pixel_values": mx.array(pix.astype(np.float32))}


@dataclass
class LanguageModelOutput:
    logits: mx.array


class BeadVLM(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.vision = nn.Linear(PATCH, d)
        self.projector = nn.Linear(d, d)
        self.embed = nn.Embedding(VOCAB, d)
        self.attn = nn.MultiHeadAttention(d, 4)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.norm = nn.LayerNorm(d)
        self.pos = nn.Embedding(N_BEADS + N_BEADS + 2, d)
        self.lm_head = nn.Linear(d, VOCAB)

    def __call__(self, input_ids, pixel_values):
        img = self.projector(nn.gelu(self.vision(pixel_values)))
        txt = self.embed(input_ids)
        h = mx.concatenate([img, txt], axis=1)
        L = h.shape[1]
        h = h + self.pos(mx.arange(L))
        m = nn.MultiHeadAttention.create_additive_causal_mask(L)
        h = h + self.attn(h, h, h, mask=m)
        h = h + self.mlp(self.norm(h))
        logits = self.lm_head(h)[:, N_BEADS:, :]
        return LanguageModelOutput(logits=logits)


def loss_fn(model, batch):
    input_ids = batch["input_ids"]
    logits = model(input_ids=input_ids, pixel_values=batch["pixel_values"])
    # mlx-vlm 0.4.0+ returns LanguageModelOutput dataclass
    if hasattr(logits, "logits"):
        logits = logits.logits
    elif isinstance(logits, tuple):
        logits = logits[0]
    shift_logits = logits[:, :-1, :]
    shift_labels = input_ids[:, 1:]
    loss = nn.losses.cross_entropy(shift_logits, shift_labels, reduction="none")
    loss_mask = (mx.arange(shift_labels.shape[1]) >= 1).astype(loss.dtype)[None, :]
    loss_mask = mx.broadcast_to(loss_mask, loss.shape)
    return (loss * loss_mask).sum() / mx.maximum(loss_mask.sum(), 1)


def bead_accuracy(model, batch):
    out = model(input_ids=batch["input_ids"], pixel_values=batch["pixel_values"])
    logits = out.logits if hasattr(out, "logits") else out
    pred = mx.argmax(logits[:, 1:-1, :], axis=-1)
    return (pred == batch["input_ids"][:, 2:]).astype(mx.float32).mean().item()


mx.random.seed(3)
model = BeadVLM()
optimizer = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)
held_out = make_batch(256)

t0 = time.time()
print("vlm-sft | beads=%d colours=%d | params=%d" % (
    N_BEADS, N_COLOURS, sum(v.size for _, v in __import__("mlx.utils", fromlist=["x"]).tree_flatten(model.trainable_parameters()))))
for it in range(1, 401):
    batch = make_batch(32)
    loss, grads = step_fn(model, batch)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    if it % 50 == 0 or it == 1:
        acc = bead_accuracy(model, held_out)
        print(f"Iter {it:4d}: train loss {loss.item():.4f}, bead acc {100*acc:5.1f}%, {time.time()-t0:5.1f}s")
print(f"done: final held-out bead acc {100*bead_accuracy(model, held_out):.1f}%")
