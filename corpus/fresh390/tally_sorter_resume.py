"""Parcel-depot tally sorter: a tiny Transformer encoder learns to output the
digits of a tally sheet in ascending order. Sheet length grows stage by stage
(4 -> 7 -> 10 digits at most,
with shorter sheets still mixed in). After stage 2 the run is checkpointed to disk, the
model and optimizer are rebuilt from scratch and the run resumes from the files.
"""
import os
import shutil
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

VOCAB = 10
MAX_LEN = 10
STAGES = [(4, 150), (7, 200), (10, 300)]
BATCH = 48


class TallySorter(nn.Module):
    def __init__(self, dims=32):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(MAX_LEN, dims)
        self.enc = nn.TransformerEncoder(2, dims, 4, mlp_dims=64)
        self.head = nn.Linear(dims, VOCAB)

    def __call__(self, x):
        L = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(L))
        return self.head(self.enc(h, None))


def sheets(n, L, rng):
    x = rng.integers(0, VOCAB, size=(n, L))
    return mx.array(x), mx.array(np.sort(x, axis=1))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, L, seed):
    x, y = sheets(512, L, np.random.default_rng(seed))
    pred = mx.argmax(model(x), axis=-1)
    tok = mx.mean((pred == y).astype(mx.float32)).item()
    whole = mx.mean(mx.all(pred == y, axis=1).astype(mx.float32)).item()
    return loss_fn(model, x, y).item(), 100 * tok, 100 * whole


def make_opt():
    sched = optim.cosine_decay(3e-3, sum(s for _, s in STAGES), end=2e-4)
    return optim.AdamW(learning_rate=sched, weight_decay=0.01)


ckpt_dir = tempfile.mkdtemp()
mx.random.seed(3)
rng = np.random.default_rng(3)
model = TallySorter()
mx.eval(model.parameters())
opt = make_opt()
print(f"params: {sum(v.size for _, v in tree_flatten(model.parameters()))}, checkpoint dir {ckpt_dir}")
print("chance token accuracy 10.0% | uniform CE ln(10) = 2.303 nats")

t0 = time.time()
for stage, (L, steps) in enumerate(STAGES, 1):
    if stage == 3:
        # restart: fresh objects, state read back from disk
        del model, opt
        model = TallySorter()
        model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
        opt = make_opt()
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        rng = np.random.default_rng(int(np.load(os.path.join(ckpt_dir, "rng_seed.npy"))))
        mx.eval(model.parameters(), opt.state)
        l, tok, whole = evaluate(model, 7, 11)
        print(f"resumed from checkpoint: opt step {opt.step.item()}, len-7 check ce {l:.3f} tok {tok:.1f}% (same as before the save)")
    step_fn = nn.value_and_grad(model, loss_fn)
    l, tok, whole = evaluate(model, L, 100 + L)
    print(f"== stage {stage}: sheets of {L} digits, {steps} steps | before: ce {l:.3f}, tok acc {tok:.1f}%")
    run = []
    for s in range(1, steps + 1):
        # mix in shorter sheets so earlier lengths stay in the pool
        x, y = sheets(BATCH, int(rng.integers(max(2, L - 6), L + 1)), rng)
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if s % 50 == 0:
            l, tok, whole = evaluate(model, L, 100 + L)
            print(f"  s{stage} {s:4d}  lr {opt.learning_rate.item():.2e}  train {np.mean(run):.3f}  "
                  f"held-out {l:.3f}  tok {tok:5.1f}%  sheet {whole:5.1f}%  {time.time() - t0:5.1f}s")
            run = []
    if stage == 2:
        model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        np.save(os.path.join(ckpt_dir, "rng_seed.npy"), np.array(1234))
        l, tok, whole = evaluate(model, 7, 11)
        print(f"checkpoint written after stage 2 (len-7 check ce {l:.3f} tok {tok:.1f}%)")

print("final held-out by length:")
for L in (4, 7, 10):
    l, tok, whole = evaluate(model, L, 500 + L)
    print(f"  len {L:2d}: ce {l:.3f}  tok {tok:5.1f}%  whole sheet {whole:5.1f}%")
print(f"done in {time.time() - t0:.1f}s")
shutil.rmtree(ckpt_dir)
