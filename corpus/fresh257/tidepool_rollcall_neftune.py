# Tide-pool survey desk: two-turn chat SFT (assistant turns only in the loss)
# with NEFTune-style embedding noise while training, lr warm-up from 0,
# and a save / reload / resume half way through.
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(3)
mx.random.seed(3)

SPECIES = ["anemone", "limpet", "whelk", "barnacle", "mussel", "sculpin"]
COUNT_WORD = {1: "one", 2: "two", 3: "three", 4: "four"}
chars = sorted(set("".join(SPECIES) + "".join(COUNT_WORD.values())
                   + "useraitnkcoudhwm?:. \n0123456789"))
VOCAB = ["<pad>", "<s>", "</s>"] + chars
ID = {c: i for i, c in enumerate(VOCAB)}


def turn(role, text):
    ids = [ID["<s>"]] + [ID[c] for c in role + ":" + text] + [ID["</s>"]]
    return ids, role == "assistant"


def conversation():
    sp = SPECIES[rng.integers(len(SPECIES))]
    n = int(rng.integers(1, 5))
    turns = [turn("user", f"count {sp}?"), turn("assistant", f"{n}"),
             turn("user", "in words?"), turn("assistant", COUNT_WORD[n])]
    ids, mask = [], []
    for t, train in turns:
        ids += t
        mask += [1 if train else 0] * len(t)
    return ids, mask


def batch(bs):
    convs = [conversation() for _ in range(bs)]
    L = max(len(c[0]) for c in convs)
    x = np.zeros((bs, L), np.int32)
    m = np.zeros((bs, L), np.float32)
    for i, (ids, mk) in enumerate(convs):
        x[i, :len(ids)] = ids
        m[i, :len(mk)] = mk
    return mx.array(x), mx.array(m)


class ChatLM(nn.Module):
    def __init__(self, V, d=32):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.pos = nn.Embedding(128, d)
        self.body = nn.TransformerEncoder(1, d, 2, mlp_dims=4 * d)
        self.out = nn.Linear(d, V)
        self.noise_alpha = 0.0

    def __call__(self, x):
        T = x.shape[1]
        h = self.emb(x)
        if self.noise_alpha > 0:
            scale = self.noise_alpha / (T * h.shape[-1]) ** 0.5
            h = h + mx.random.uniform(-scale, scale, h.shape)
        h = h + self.pos(mx.arange(T))
        causal = nn.MultiHeadAttention.create_additive_causal_mask(T).astype(h.dtype)
        return self.out(self.body(h, causal))


def loss_fn(model, x, m):
    logits = model(x[:, :-1])
    w = m[:, 1:]
    ce = nn.losses.cross_entropy(logits, x[:, 1:]) * w
    return ce.sum() / w.sum()


TOTAL, HALF, WARM = 240, 120, 40
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 5e-3, WARM), optim.cosine_decay(5e-3, TOTAL - WARM, 5e-4)],
    [WARM])


def fresh():
    model = ChatLM(len(VOCAB))
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    return model, opt


val_x, val_m = batch(64)
model, opt = fresh()
step_fn = nn.value_and_grad(model, loss_fn)
ckpt = os.path.join(tempfile.mkdtemp(), "tidepool.safetensors")

step = 0
print("step lr        noisy_train  clean_val")
while step < TOTAL:
    if step == HALF:
        flat = dict(tree_flatten(model.parameters()))
        flat.update({"opt." + k: v for k, v in tree_flatten(opt.state)})
        mx.save_safetensors(ckpt, flat)
        model, opt = fresh()
        loaded = mx.load(ckpt)
        model.update(tree_unflatten([(k, v) for k, v in loaded.items() if not k.startswith("opt.")]))
        opt.state = tree_unflatten([(k[4:], v) for k, v in loaded.items() if k.startswith("opt.")])
        step_fn = nn.value_and_grad(model, loss_fn)
        print(f"-- saved and reloaded at step {step} ({os.path.getsize(ckpt)} bytes), resuming")
    lr_now = sched(opt.state.get("step", mx.array(0))).item()
    model.noise_alpha = 5.0
    x, m = batch(16)
    loss, grads = step_fn(model, x, m)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    step += 1
    if step % 30 == 0 or step == 1:
        model.noise_alpha = 0.0
        val = loss_fn(model, val_x, val_m).item()
        print(f"{step:4d} {lr_now:.2e}  {loss.item():.4f}       {val:.4f}")

model.noise_alpha = 0.0
logits = model(val_x[:, :-1])
pred = mx.argmax(logits, axis=-1)
w = val_m[:, 1:]
acc = ((pred == val_x[:, 1:]) * w).sum() / w.sum()
print(f"assistant-token accuracy {acc.item() * 100:.1f}% "
      f"(the first reply digit is drawn at random, 1 in 4)")
