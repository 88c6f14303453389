"""Library shelf-reading helper: put a short run of call-number digits back in order.

One transformer block is applied again and again (the same weights at every depth
step, with a small learned depth embedding added before each pass). Stage A uses
2 passes, stage B resumes from the saved checkpoint and uses 4 passes of the very
same block, so the parameter count does not change between stages.
"""
import functools
import json
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEQ = 6
VOCAB = 10
DIM = 32
HEADS = 4
MAX_DEPTH = 4
BATCH = 64


class LoopBlockSorter(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.depth = nn.Embedding(MAX_DEPTH, DIM)
        self.block = nn.TransformerEncoderLayer(DIM, HEADS, mlp_dims=4 * DIM, dropout=0.0, norm_first=True)
        self.norm = nn.LayerNorm(DIM)
        self.out = nn.Linear(DIM, VOCAB)

    def __call__(self, x, passes):
        h = self.tok(x) + self.pos(mx.arange(SEQ))
        for t in range(passes):
            h = h + self.depth(mx.array(t))
            h = self.block(h, None)
        return self.out(self.norm(h))


def make_batch(n):
    x = mx.random.randint(0, VOCAB, (n, SEQ))
    y = mx.sort(x, axis=1)
    return x, y


def loss_fn(model, x, y, passes):
    logits = model(x, passes)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def evaluate(model, x, y, passes):
    pred = mx.argmax(model(x, passes), axis=-1)
    tok = (pred == y).astype(mx.float32).mean().item()
    seq = (pred == y).all(axis=1).astype(mx.float32).mean().item()
    return tok, seq


def make_opt(total, peak, warm):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, end=peak * 0.05)],
        [warm],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=0.01)


def run_stage(model, opt, passes, steps, start_step, log_every, xv, yv, base_tok, base_seq, tag):
    lvg = nn.value_and_grad(model, loss_fn)
    for s in range(1, steps + 1):
        x, y = make_batch(BATCH)
        loss, grads = lvg(model, x, y, passes)
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        lr_now = opt.learning_rate.item()
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step = start_step + s
        if s == 1 or s % log_every == 0 or s == steps:
            tok, seq = evaluate(model, xv, yv, passes)
            print(json.dumps({
                "stage": tag, "step": step, "passes": passes, "lr": round(lr_now, 6),
                "xent": round(loss.item(), 4), "gnorm": round(gnorm.item(), 3),
                "tok_acc": round(tok, 4), "tok_acc_copy_input": round(base_tok, 4),
                "seq_acc": round(seq, 4), "seq_acc_copy_input": round(base_seq, 4),
            }))
    return start_step + steps


print = functools.partial(print, flush=True)


def main():
    mx.random.seed(11)
    t0 = time.time()
    xv, yv = make_batch(512)
    base_tok = (xv == yv).astype(mx.float32).mean().item()
    base_seq = (xv == yv).all(axis=1).astype(mx.float32).mean().item()

    model = LoopBlockSorter()
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"# shelf-reading sorter, one shared block, {n_params} parameters")

    steps_a, steps_b = 240, 120
    opt = make_opt(steps_a, 3e-3, 30)
    step = run_stage(model, opt, 2, steps_a, 0, 30, xv, yv, base_tok, base_seq, "A")

    ckdir = tempfile.mkdtemp(suffix="_shelfread")
    wpath = os.path.join(ckdir, "weights.safetensors")
    opath = os.path.join(ckdir, "opt.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    print(f"# checkpoint written after step {step}: {os.path.basename(wpath)}, {os.path.basename(opath)}")

    model = LoopBlockSorter()
    model.load_weights(wpath)
    mx.eval(model.parameters())
    n_params_b = sum(v.size for _, v in tree_flatten(model.parameters()))
    tok, seq = evaluate(model, xv, yv, 2)
    print(f"# reloaded {n_params_b} parameters; check at 2 passes: tok_acc {tok:.4f} seq_acc {seq:.4f}")
    tok4, seq4 = evaluate(model, xv, yv, 4)
    print(f"# same weights run at 4 passes before any stage-B step: tok_acc {tok4:.4f} seq_acc {seq4:.4f}")

    opt = make_opt(steps_b, 1.5e-3, 20)
    old = tree_unflatten(list(mx.load(opath).items()))
    opt.init(model.trainable_parameters())
    moments = {k: v for k, v in tree_flatten(old) if k != "step" and k != "learning_rate"}
    state = dict(tree_flatten(opt.state))
    state.update(moments)
    opt.state = tree_unflatten(list(state.items()))
    opt.state["step"] = mx.array(0, dtype=mx.uint64)
    step = run_stage(model, opt, 4, steps_b, step, 60, xv, yv, base_tok, base_seq, "B")

    tok, seq = evaluate(model, xv, yv, 4)
    print(json.dumps({"final": True, "steps": step, "passes": 4, "tok_acc": round(tok, 4),
                      "seq_acc": round(seq, 4), "seq_acc_copy_input": round(base_seq, 4),
                      "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
