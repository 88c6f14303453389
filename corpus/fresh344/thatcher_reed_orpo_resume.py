"""Thatcher's reed-bundle tally: ORPO preference tuning of a tiny mlx-lm llama.

A master thatcher writes each delivery of four reed bundles (lengths 3..22)
into the tally book in ascending order, then a closing mark (one of two marks,
chosen at random, so the closing token can never be predicted better than a
coin flip).  Apprentices write the bundles in the reverse order, or swap one
neighbouring pair.  We fine-tune a small llama from scratch with ORPO
(SFT on the master's line + an odds-ratio term against the apprentice's line),
no reference model.

Schedule: linear warm-up from exactly 0 over 30 steps, then cosine decay.
Run is split in two sessions: session A trains 80 steps and writes a
checkpoint (weights + optimizer state + step), session B rebuilds everything
from the checkpoint and continues to step 160.
"""
import os
import shutil
import tempfile
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten
from mlx_lm.models import llama

BOS, SEP, MARK_A, MARK_B = 0, 1, 2, 23
VOCAB = 24
N_BUNDLE = 4
PROMPT_LEN = 1 + N_BUNDLE + 1
COMP_LEN = N_BUNDLE + 1
LAMBDA_OR = 0.3
BATCH = 32
TOTAL_STEPS = 160
SESSION_A = 80
WARMUP = 30
PEAK_LR = 3e-3


def make_pairs(rng, n):
    vals = np.stack([rng.choice(np.arange(3, 23), N_BUNDLE, replace=False) for _ in range(n)])
    prompt = np.concatenate([np.full((n, 1), BOS), vals, np.full((n, 1), SEP)], axis=1)
    asc = np.sort(vals, axis=1)
    marks = np.where(rng.random(n) < 0.5, MARK_A, MARK_B)[:, None]
    chosen = np.concatenate([asc, marks], axis=1)
    rej_body = asc[:, ::-1].copy()
    swap = rng.random(n) < 0.5
    k = rng.integers(0, N_BUNDLE - 1, n)
    for i in np.where(swap)[0]:
        b = asc[i].copy()
        b[k[i]], b[k[i] + 1] = b[k[i] + 1], b[k[i]]
        rej_body[i] = b
    rejected = np.concatenate([rej_body, marks], axis=1)
    return (
        np.concatenate([prompt, chosen], axis=1).astype(np.int32),
        np.concatenate([prompt, rejected], axis=1).astype(np.int32),
    )


def build_model():
    args = llama.ModelArgs(
        model_type="llama",
        hidden_size=48,
        num_hidden_layers=2,
        intermediate_size=96,
        num_attention_heads=4,
        num_key_value_heads=2,
        rms_norm_eps=1e-5,
        vocab_size=VOCAB,
        tie_word_embeddings=True,
    )
    return llama.Model(args)


def build_optimizer():
    sched = optim.join_schedules(
        [
            optim.linear_schedule(0.0, PEAK_LR, WARMUP),
            optim.cosine_decay(PEAK_LR, TOTAL_STEPS - WARMUP, 1e-4),
        ],
        [WARMUP],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=0.01)


def completion_mask(length):
    m = np.zeros((1, length - 1), dtype=np.float32)
    m[:, PROMPT_LEN - 1 :] = 1.0
    return mx.array(m)


def mean_completion_logp(model, seqs, mask):
    logits = model(seqs[:, :-1]).astype(mx.float32)
    tok = -nn.losses.cross_entropy(logits, seqs[:, 1:], reduction="none")
    return (tok * mask).sum(axis=1) / mask.sum(axis=1)


def log1mexp(x):
    x = mx.minimum(x, -1e-6)
    return mx.log(-mx.expm1(x))


def orpo_loss(model, chosen, rejected, mask):
    lc = mean_completion_logp(model, chosen, mask)
    lr = mean_completion_logp(model, rejected, mask)
    nll = -lc.mean()
    log_odds = (lc - lr) - (log1mexp(lc) - log1mexp(lr))
    or_term = -nn.log_sigmoid(log_odds).mean()
    loss = nll + LAMBDA_OR * or_term
    return loss, mx.stack([nll, or_term, log_odds.mean(), lc.mean(), lr.mean()])


def evaluate(model, chosen, rejected, mask):
    lc = mean_completion_logp(model, chosen, mask)
    lr = mean_completion_logp(model, rejected, mask)
    pick = (lc > lr).astype(mx.float32).mean()
    logits = model(chosen[:, :-1])
    pred = mx.argmax(logits[:, PROMPT_LEN - 1 : PROMPT_LEN - 1 + N_BUNDLE], axis=-1)
    body_ok = mx.all(pred == chosen[:, PROMPT_LEN : PROMPT_LEN + N_BUNDLE], axis=1)
    return pick.item(), body_ok.astype(mx.float32).mean().item(), (-lc.mean()).item()


def run_session(model, opt, start, stop, data, val, mask, log_every=20):
    loss_and_grad = nn.value_and_grad(model, lambda m, c, r: orpo_loss(m, c, r, mask))
    opt.init(model.trainable_parameters())
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(c, r):
        (loss, aux), grads = loss_and_grad(model, c, r)
        opt.update(model, grads)
        return loss, aux

    tr_c, tr_r = data
    rng = np.random.default_rng(1000 + start)
    for step in range(start, stop):
        idx = rng.integers(0, tr_c.shape[0], BATCH)
        c, r = mx.array(tr_c[idx]), mx.array(tr_r[idx])
        lr_now = opt.learning_rate.item()
        loss, aux = train_step(c, r)
        mx.eval(state, loss, aux)
        if (step + 1) % log_every == 0 or step == start:
            nll, or_term, lo, lc, lrj = aux.tolist()
            print(
                f"step {step + 1:4d}  lr {lr_now:.2e}  loss {loss.item():.4f}  "
                f"nll {nll:.4f}  or {or_term:.4f}  log_odds {lo:+.3f}  "
                f"logp_chosen {lc:+.3f}  logp_rejected {lrj:+.3f}"
            )
        if (step + 1) % 80 == 0:
            pick, body, vnll = evaluate(model, *val, mask)
            print(f"  [val] step {step + 1}: pick-rate {pick:.3f} (coin 0.500)  "
                  f"ascending-body exact {body:.3f}  nll {vnll:.4f} (floor {np.log(2) / COMP_LEN:.4f})")


def save_checkpoint(path, model, opt, step):
    weights = dict(tree_flatten(model.parameters()))
    mx.save_safetensors(os.path.join(path, "model.safetensors"), weights)
    ostate = dict(tree_flatten(opt.state))
    mx.save_safetensors(os.path.join(path, "optim.safetensors"), ostate, metadata={"step": str(step)})


def load_checkpoint(path):
    model = build_model()
    model.load_weights(os.path.join(path, "model.safetensors"))
    opt = build_optimizer()
    ostate, meta = mx.load(os.path.join(path, "optim.safetensors"), return_metadata=True)
    opt.state = tree_unflatten(list(ostate.items()))
    return model, opt, int(meta["step"])


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    train = make_pairs(rng, 6000)
    val = tuple(mx.array(a) for a in make_pairs(rng, 200))
    mask = completion_mask(PROMPT_LEN + COMP_LEN)

    model = build_model()
    opt = build_optimizer()
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"tiny llama: {n_params} parameters, ORPO lambda {LAMBDA_OR}, batch {BATCH}")
    pick, body, vnll = evaluate(model, *val, mask)
    print(f"[val] before training: pick-rate {pick:.3f}  ascending-body exact {body:.3f}  nll {vnll:.4f}")

    t0 = time.time()
    print("=== session A ===")
    run_session(model, opt, 0, SESSION_A, train, val, mask)
    ckpt = tempfile.mkdtemp()
    save_checkpoint(ckpt, model, opt, SESSION_A)
    ref_pick, _, ref_nll = evaluate(model, *val, mask)
    print(f"checkpoint written at step {SESSION_A} (val nll {ref_nll:.4f})")
    del model, opt

    print("=== session B (resumed) ===")
    model, opt, start = load_checkpoint(ckpt)
    _, _, chk_nll = evaluate(model, *val, mask)
    print(f"resumed at step {start}, optimizer step {opt.step.item()}, val nll {chk_nll:.4f}")
    run_session(model, opt, start, TOTAL_STEPS, train, val, mask)

    pick, body, vnll = evaluate(model, *val, mask)
    print(f"final: pick-rate {pick:.3f}  ascending-body exact {body:.3f}  "
          f"val nll {vnll:.4f}  time {time.time() - t0:.1f}s")
    shutil.rmtree(ckpt, ignore_errors=True)


if __name__ == "__main__":
    main()
