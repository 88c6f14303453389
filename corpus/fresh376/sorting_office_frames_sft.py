"""Sorting-office clerk SFT: address prompt -> sorting-frame reply, LoRA on a tiny llama,
responses-only loss, gradient accumulation, warmup + cosine with hard restarts, checkpoint/resume."""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map, tree_unflatten
from mlx_lm.models import llama
from mlx_lm.tuner.utils import linear_to_lora_layers

PAD, BOS, EOS, ASK, FRAME = 0, 1, 2, 3, 4
TOWN0, DIST0, CODE0 = 8, 24, 40
N_TOWN, N_DIST, N_CODE = 12, 10, 8
VOCAB = 48

ARGS = llama.ModelArgs(
    model_type="llama", hidden_size=64, num_hidden_layers=2, intermediate_size=128,
    num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5, vocab_size=VOCAB,
    tie_word_embeddings=True,
)


def rule_old(t, d):
    return (2 * t) % N_CODE, d % N_CODE


def rule_new(t, d):
    return (2 * t + 3) % N_CODE, (d + 5) % N_CODE


def make_rows(rng, n, rule):
    rows = []
    for _ in range(n):
        t, d = int(rng.integers(N_TOWN)), int(rng.integers(N_DIST))
        a, b = rule(t, d)
        prompt = [BOS, TOWN0 + t, DIST0 + d, ASK]
        reply = [FRAME, CODE0 + a, CODE0 + b, EOS]
        rows.append((prompt, reply))
    return rows


def collate(rows):
    ids = np.array([p + r for p, r in rows], dtype=np.int32)
    inp, tgt = ids[:, :-1], ids[:, 1:]
    mask = np.zeros_like(tgt, dtype=np.float32)
    plen = len(rows[0][0])
    mask[:, plen - 1:] = 1.0  # train on responses only
    return mx.array(inp), mx.array(tgt), mx.array(mask)


def token_loss_sum(model, inp, tgt, mask):
    ce = nn.losses.cross_entropy(model(inp), tgt, reduction="none")
    return (ce * mask).sum()


def evaluate(model, rows):
    inp, tgt, mask = collate(rows)
    logits = model(inp)
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    loss = ((ce * mask).sum() / mask.sum()).item()
    pred = logits.argmax(axis=-1)
    ok = ((pred == tgt) | (mask == 0)).all(axis=1).astype(mx.float32).mean().item()
    return loss, ok


def hard_restart_lr(step, peak, warmup, total, cycles):
    # HF get_cosine_with_hard_restarts_schedule_with_warmup, evaluated at the step being taken
    if step < warmup:
        return peak * step / max(1, warmup)
    p = (step - warmup) / max(1, total - warmup)
    if p >= 1.0:
        return 0.0
    return peak * max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((cycles * p) % 1.0))))


def build_lora_model(base_path):
    model = llama.Model(ARGS)
    model.load_weights(base_path)
    model.freeze()
    linear_to_lora_layers(model, 2, {"rank": 8, "scale": 2.0, "dropout": 0.0,
                                     "keys": ["self_attn.q_proj", "self_attn.v_proj", "self_attn.o_proj",
                                              "mlp.down_proj"]})
    mx.eval(model.parameters())
    return model


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    mx.random.seed(11)

    # quiet base fit on last year's frame table
    base = llama.Model(ARGS)
    old = make_rows(rng, 4096, rule_old)
    bopt = optim.AdamW(learning_rate=6e-3, weight_decay=0.0)
    bstep = nn.value_and_grad(base, lambda m, i, t, k: token_loss_sum(m, i, t, k) / k.sum())
    for it in range(200):
        sel = rng.integers(0, len(old), size=32)
        l, g = bstep(base, *collate([old[j] for j in sel]))
        bopt.update(base, g)
        mx.eval(base.parameters(), bopt.state)
    print(f"base model ready ({time.time() - t0:.1f}s), last-year table loss {l.item():.3f}")

    work = tempfile.mkdtemp()
    base_path = os.path.join(work, "base.safetensors")
    base.save_weights(base_path)

    train_rows = make_rows(rng, 3000, rule_new)
    eval_rows = make_rows(rng, 512, rule_new)

    model = build_lora_model(base_path)
    n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"trainable params: {n_tr:,} || all params: {n_all:,} || trainable%: {100 * n_tr / n_all:.2f}")
    uniform = math.log(VOCAB)
    el, em = evaluate(model, eval_rows)
    print(f"{{'eval_loss': {el:.4f}, 'eval_exact_match': {em:.4f}, 'uniform_loss': {uniform:.4f}, 'epoch': 0.0}}")

    per_device, accum, max_steps, warmup, cycles, peak = 16, 4, 120, 12, 2, 5e-3
    log_every, eval_every, ckpt_step = 10, 30, 60
    steps_per_epoch = len(train_rows) // (per_device * accum)

    def make_opt():
        return optim.Adam(learning_rate=0.0)

    opt = make_opt()
    grad_fn = nn.value_and_grad(model, token_loss_sum)
    order = rng.permutation(len(train_rows))
    cursor = 0
    window = []
    step = 0
    resumed = False
    while step < max_steps:
        lr = hard_restart_lr(step, peak, warmup, max_steps, cycles)
        opt.learning_rate = lr
        acc_grads, acc_loss, acc_tok = None, 0.0, 0.0
        for _ in range(accum):
            if cursor + per_device > len(order):
                order = rng.permutation(len(train_rows))
                cursor = 0
            batch = [train_rows[j] for j in order[cursor:cursor + per_device]]
            cursor += per_device
            inp, tgt, mask = collate(batch)
            lsum, g = grad_fn(model, inp, tgt, mask)
            acc_grads = g if acc_grads is None else tree_map(mx.add, acc_grads, g)
            acc_loss += lsum.item()
            acc_tok += mask.sum().item()
        grads = tree_map(lambda x: x / acc_tok, acc_grads)
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        step += 1
        window.append(acc_loss / acc_tok)
        epoch = step / steps_per_epoch
        if step % log_every == 0:
            print(f"{{'loss': {np.mean(window):.4f}, 'grad_norm': {gnorm.item():.4f}, "
                  f"'learning_rate': {lr:.6g}, 'epoch': {epoch:.2f}}}")
            window = []
        if step % eval_every == 0:
            el, em = evaluate(model, eval_rows)
            print(f"{{'eval_loss': {el:.4f}, 'eval_exact_match': {em:.4f}, 'epoch': {epoch:.2f}}}")
        if step == ckpt_step and not resumed:
            ck = os.path.join(work, f"checkpoint-{step}")
            os.makedirs(ck)
            mx.save_safetensors(os.path.join(ck, "adapters.safetensors"),
                                dict(tree_flatten(model.trainable_parameters())))
            mx.save_safetensors(os.path.join(ck, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
            print(f"Saving model checkpoint to {ck}")
            # simulate an interrupted session: drop everything and resume from disk
            del model, opt, grad_fn
            model = build_lora_model(base_path)
            model.load_weights(os.path.join(ck, "adapters.safetensors"), strict=False)
            opt = make_opt()
            opt.state = tree_unflatten(list(mx.load(os.path.join(ck, "optimizer.safetensors")).items()))
            grad_fn = nn.value_and_grad(model, token_loss_sum)
            mx.eval(model.parameters(), opt.state)
            resumed = True
            el, em = evaluate(model, eval_rows)
            print(f"Resuming from {ck} at global_step {step}: eval_loss {el:.4f} eval_exact_match {em:.4f}")

    el, em = evaluate(model, eval_rows)
    print(f"{{'eval_loss': {el:.4f}, 'eval_exact_match': {em:.4f}, 'epoch': {step / steps_per_epoch:.2f}}}")
    print(f"TrainOutput(global_step={step}, train_runtime={time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
