# char-level GPT on a synthetic grammar; trains, checkpoints, then resumes
# from the checkpoint (same as restarting the job after an interruption).
import json
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(1)
WORDS = ["the cat sat", "a dog ran", "the bird flew", "a fish swam", "the cow ate"]
TEXT = " . ".join(WORDS[i % 5] for i in [0, 3, 1, 4, 2, 0, 2, 1, 3, 4] * 40)
CHARS = sorted(set(TEXT))
STOI = {c: i for i, c in enumerate(CHARS)}
DATA = mx.array([STOI[c] for c in TEXT])
V, T, D = len(CHARS), 24, 48


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D)
        self.attn = nn.MultiHeadAttention(D, 4)
        self.ln2 = nn.LayerNorm(D)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, D)
        self.wpe = nn.Embedding(T, D)
        self.h = [Block() for _ in range(2)]
        self.ln_f = nn.LayerNorm(D)
        self.lm_head = nn.Linear(D, V, bias=False)

    def __call__(self, idx):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(idx.shape[1])
        x = self.wte(idx) + self.wpe(mx.arange(idx.shape[1]))
        for b in self.h:
            x = b(x, mask)
        return self.lm_head(self.ln_f(x))


def get_batch(bs=16):
    ix = mx.random.randint(0, DATA.size - T - 1, (bs,))
    off = mx.arange(T)
    x = DATA[ix[:, None] + off]
    y = DATA[ix[:, None] + off + 1]
    return x, y


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def save_checkpoint(ckpt_dir, step, model, optimizer):
    model.save_weights(os.path.join(ckpt_dir, f"model_{step:06d}.safetensors"))
    flat = {f"adamw.{k}": v for k, v in tree_flatten(optimizer.state)}
    mx.savez(os.path.join(ckpt_dir, f"optim_{step:06d}.npz"), **flat)
    with open(os.path.join(ckpt_dir, f"meta_{step:06d}.json"), "w") as f:
        json.dump({"step": step}, f)


def load_checkpoint(ckpt_dir, step, model):
    model.load_weights(os.path.join(ckpt_dir, f"model_{step:06d}.safetensors"))
    optim_arrays = mx.load(os.path.join(ckpt_dir, f"optim_{step:06d}.npz"))
    # Unflatten optimizer states properly (numeric keys -> lists, like model.h)
    optimizer_data = {}
    for flat_key, value in optim_arrays.items():
        opt_name, *rest = flat_key.split(".", 1)
        if opt_name not in optimizer_data:
            optimizer_data[opt_name] = []
        if rest:
            optimizer_data[opt_name].append((rest[0], value))
    optimizer_data = {k: tree_unflatten(v) for k, v in optimizer_data.items()}
    with open(os.path.join(ckpt_dir, f"meta_{step:06d}.json")) as f:
        meta = json.load(f)
    return optimizer_data, meta


def run(model, optimizer, start, stop, t0):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        x, y = get_batch()
        loss, grads = step_fn(model, x, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        if step % 20 == 0 or step == stop - 1:
            print(f"step {step:4d} | loss {loss.item():.4f} | lr {optimizer.learning_rate.item():.2e} | {time.time() - t0:5.1f}s", flush=True)


def main():
    t0 = time.time()
    ckpt_dir = tempfile.mkdtemp(prefix="gpt_ckpt_")
    schedule = optim.join_schedules([optim.linear_schedule(1e-4, 3e-3, 20), optim.cosine_decay(3e-3, 380, 3e-4)], [20])

    model = GPT()
    optimizer = optim.AdamW(learning_rate=schedule, weight_decay=0.05)
    print(f"vocab={V} ctx={T} params={sum(v.size for _, v in tree_flatten(model.parameters()))}")
    run(model, optimizer, 0, 200, t0)
    save_checkpoint(ckpt_dir, 200, model, optimizer)
    print(f"saved checkpoint at step 200 -> {ckpt_dir}")
    del model, optimizer

    # ---- resume (fresh objects, as after a restart) ----
    model = GPT()
    optimizer = optim.AdamW(learning_rate=schedule, weight_decay=0.05)
    opt_state, meta = load_checkpoint(ckpt_dir, 200, model)
    optimizer.state = opt_state["adamw"]
    print(f"resumed from step {meta['step']}")
    run(model, optimizer, meta["step"], 400, t0)


if __name__ == "__main__":
    main()
