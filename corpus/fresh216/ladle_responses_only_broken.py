# SFT of a tiny causal LM on "system prompt + answer" records, config-driven
# like a small fine-tuning CLI: a soup-style config is turned into TrainingArgs
# and the dataset loader decides whether prompt tokens count in the loss.
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

cfg = {
    "data": {"train_on_responses_only": True, "prompt_len": 24, "answer_len": 6},
    "training": {"iters": 150, "batch_size": 16, "lr": 2e-3, "steps_per_report": 25,
                 "steps_per_eval": 50},
}

VOCAB, N_TASKS, SEP = 40, 8, 39


@dataclass
class TrainingArgs:
    batch_size: int
    iters: int
    steps_per_report: int
    steps_per_eval: int


def make_records(n, seed):
    key = mx.random.key(seed)
    k1, k2 = mx.random.split(key)
    P, A = cfg["data"]["prompt_len"], cfg["data"]["answer_len"]
    task = mx.random.randint(0, N_TASKS, (n, 1), key=k1)
    noise = mx.random.randint(N_TASKS, 30, (n, P - 1), key=k2)   # unpredictable system text
    answers = (mx.arange(A)[None, :] * 3 + task * 5) % 30 + 8     # answer is set by the task id
    answers = mx.minimum(answers, 38)
    toks = mx.concatenate([task, noise, mx.full((n, 1), SEP), answers], axis=1)
    return toks, P + 1


def build_dataset(args, n, seed):
    toks, prompt_end = make_records(n, seed)
    mask_prompt = getattr(args, "mask_prompt", False)
    T = toks.shape[1] - 1
    pos = mx.arange(T)[None, :] + 1          # position of each target token
    if mask_prompt:
        loss_mask = (pos >= prompt_end).astype(mx.float32)
    else:
        loss_mask = mx.ones((1, T))
    loss_mask = mx.broadcast_to(loss_mask, (toks.shape[0], T))
    return toks, loss_mask


class TinyLM(nn.Module):
    def __init__(self, dims=48, layers=1, heads=4, max_len=64):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.blocks = nn.TransformerEncoder(layers, dims, heads, mlp_dims=96)
        self.head = nn.Linear(dims, VOCAB)

    def __call__(self, x):
        T = x.shape[1]
        h = self.emb(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        return self.head(self.blocks(h, mask))


def loss_fn(model, toks, lmask):
    logits = model(toks[:, :-1])
    ce = nn.losses.cross_entropy(logits, toks[:, 1:], reduction="none")
    return (ce * lmask).sum() / lmask.sum()


def main():
    tr = cfg["training"]
    args = TrainingArgs(batch_size=tr["batch_size"], iters=tr["iters"],
                        steps_per_report=tr["steps_per_report"], steps_per_eval=tr["steps_per_eval"])
    train_toks, train_mask = build_dataset(args, 2048, 1)
    val_toks, val_mask = build_dataset(args, 256, 2)

    mx.random.seed(0)
    model = TinyLM()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=tr["lr"], weight_decay=0.01)
    step = nn.value_and_grad(model, loss_fn)

    n_params = sum(v.size for _, v in __import__("mlx.utils").utils.tree_flatten(model.trainable_parameters()))
    print(f"Trainable parameters: {n_params/1e3:.1f}K")
    print(f"Starting training..., iters: {args.iters}")
    losses, t0 = [], time.perf_counter()
    for it in range(1, args.iters + 1):
        idx = mx.random.randint(0, train_toks.shape[0], (args.batch_size,))
        loss, grads = step(model, train_toks[idx], train_mask[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
        if it == 1 or it % args.steps_per_eval == 0:
            vl = loss_fn(model, val_toks, val_mask)
            print(f"Iter {it}: Val loss {vl.item():.3f}")
        if it % args.steps_per_report == 0:
            el = time.perf_counter() - t0
            print(f"Iter {it}: Train loss {sum(losses)/len(losses):.3f}, "
                  f"Learning Rate {tr['lr']:.3e}, It/sec {args.steps_per_report/el:.2f}")
            losses, t0 = [], time.perf_counter()
    print("Saved final adapter weights.")


if __name__ == "__main__":
    main()
