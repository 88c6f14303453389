"""Ferry manifest shorthand, two-stage curriculum through mlx_lm.tuner.trainer.train
on a tiny StableLM (mlx_lm.models.stablelm). The reported loss is nats *relative
to a uniform guess* (cross-entropy minus ln V), so it is negative and more
negative is better. Stage 1 trains on short foot-passenger manifests; stage 2
adds long vehicle-deck manifests, whose extra marks are harder, so the reported
number climbs when stage 2 starts before it falls again. Each stage ends with
next-mark accuracy next to a most-frequent-mark baseline."""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx_lm.models import stablelm
from mlx_lm.tuner.trainer import TrainingArgs, train, evaluate, iterate_batches

NS = 18
V = NS + 1
LOG_V = math.log(V)
rng = np.random.default_rng(21)
P_foot = rng.dirichlet(np.full(8, 0.2), size=8)          # marks 0..7 only, peaked
P_deck = rng.dirichlet(np.full(NS, 0.6), size=NS)         # all marks, flatter


def manifests(kind, n):
    out = []
    for _ in range(n):
        if kind == "foot":
            P, k, L = P_foot, 8, int(rng.integers(10, 16))
        else:
            P, k, L = P_deck, NS, int(rng.integers(24, 31))
        s = [int(rng.integers(k))]
        for _ in range(L - 1):
            s.append(int(rng.choice(k, p=P[s[-1]])))
        out.append(([t + 1 for t in s] + [0], 0))
    return out


foot_tr, foot_va = manifests("foot", 384), manifests("foot", 64)
deck_tr, deck_va = manifests("deck", 384), manifests("deck", 64)
mixed_tr = foot_tr + deck_tr


def relative_loss(model, batch, lengths):
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = mx.logical_and(steps >= lengths[:, 0:1], steps <= lengths[:, 1:])
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    return ce.astype(mx.float32).sum() / ntoks - LOG_V, ntoks


def accuracy(model, ds):
    model.eval()
    hit = tot = 0
    for batch, lengths in iterate_batches(ds, 8, 64):
        pred = mx.argmax(model(batch[:, :-1]), axis=-1)
        steps = mx.arange(1, batch.shape[1])
        mask = mx.logical_and(steps >= lengths[:, 0:1], steps <= lengths[:, 1:])
        hit += ((pred == batch[:, 1:]) * mask).sum().item(); tot += mask.sum().item()
    return hit / tot


def majority(ds_train, ds_eval):
    c = np.bincount(np.concatenate([np.array(t[1:]) for t, _ in ds_train]), minlength=V)
    m = int(np.argmax(c))
    ev = np.concatenate([np.array(t[1:]) for t, _ in ds_eval])
    return float((ev == m).mean())


args = stablelm.ModelArgs(model_type="stablelm", vocab_size=V, hidden_size=48,
                          num_attention_heads=4, num_hidden_layers=2, num_key_value_heads=4,
                          intermediate_size=96, rope_theta=10000.0, use_qkv_bias=True,
                          partial_rotary_factor=0.5, layer_norm_eps=1e-5)
mx.random.seed(8)
model = stablelm.Model(args)
print(f"uniform guess = {LOG_V:.4f} nats; reported loss = cross-entropy - {LOG_V:.4f}")

stages = [("stage 1 foot", foot_tr, foot_va, 100, 3e-3),
          ("stage 2 foot+deck", mixed_tr, deck_va, 140, 2e-3)]
for name, tr, va, iters, lr in stages:
    print(f"== {name}: {len(tr)} manifests, {iters} iters, lr {lr}")
    opt = optim.AdamW(learning_rate=optim.cosine_decay(lr, iters, lr * 0.1), weight_decay=0.0)
    targs = TrainingArgs(batch_size=8, iters=iters, val_batches=-1, steps_per_report=20,
                         steps_per_eval=50, steps_per_save=10_000, max_seq_length=64,
                         adapter_file="/tmp/ferry_unused.safetensors")
    train(model, opt, tr, va, args=targs, loss=relative_loss)
    for vname, vset, base_tr in (("foot", foot_va, foot_tr), ("deck", deck_va, deck_tr)):
        rel = evaluate(model, vset, 8, -1, 64, loss=relative_loss)
        print(f"   {name} | {vname:4s} val rel-nats {rel:+.4f} | next-mark acc "
              f"{accuracy(model, vset):.3f} vs most-frequent {majority(base_tr, vset):.3f}")
