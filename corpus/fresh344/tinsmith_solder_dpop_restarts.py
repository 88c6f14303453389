"""Tinsmith's seam log: SFT then DPO-Positive (DPOP) on a tiny mlx-lm llama.

Each job card lists four seam codes (3..18).  Two journeymen write the
soldering order differently: the shop's house style walks the codes forward
and adds one to each (code+1), the other journeyman also walks them forward but
subtracts one (code-1).  Stage 1 fits the model quietly on both styles 50/50,
so it starts with no preference.  Stage 2 runs DPOP against a frozen copy of
the stage-1 model, preferring the house style; the DPOP term keeps the
chosen log-probability from sinking below the reference.

Stage 2 uses Adam with cosine warm restarts (3 cycles of 30 steps), so the
learning rate jumps back up at steps 31 and 61.  At step 1 of stage 2 the
policy equals the reference, so the loss starts at exactly log(2).
"""
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map
from mlx_lm.models import llama

BOS, SEP, END = 0, 1, 2
VOCAB = 22
N = 4
PROMPT_LEN = 1 + N + 1
COMP_LEN = N + 1
BETA = 0.5
LAMBDA_DPOP = 5.0
SFT_STEPS = 150
CYCLE = 30
CYCLES = 3
PEAK_LR = 1e-3
BATCH = 32


def make_cards(rng, n):
    codes = np.stack([rng.choice(np.arange(3, 19), N, replace=False) for _ in range(n)])
    prompt = np.concatenate([np.full((n, 1), BOS), codes, np.full((n, 1), SEP)], axis=1)
    house = np.concatenate([codes + 1, np.full((n, 1), END)], axis=1)
    other = np.concatenate([codes - 1, np.full((n, 1), END)], axis=1)
    chosen = np.concatenate([prompt, house], axis=1).astype(np.int32)
    rejected = np.concatenate([prompt, other], axis=1).astype(np.int32)
    return chosen, rejected


def build_model():
    args = llama.ModelArgs(
        model_type="llama",
        hidden_size=48,
        num_hidden_layers=2,
        intermediate_size=96,
        num_attention_heads=4,
        num_key_value_heads=4,
        rms_norm_eps=1e-5,
        vocab_size=VOCAB,
        tie_word_embeddings=False,
    )
    return llama.Model(args)


MASK = np.zeros((1, PROMPT_LEN + COMP_LEN - 1), dtype=np.float32)
MASK[:, PROMPT_LEN - 1 :] = 1.0
MASK = mx.array(MASK)


def seq_logp(model, seqs):
    logits = model(seqs[:, :-1]).astype(mx.float32)
    tok = -nn.losses.cross_entropy(logits, seqs[:, 1:], reduction="none")
    return (tok * MASK).sum(axis=1)


def sft_loss(model, seqs):
    return -(seq_logp(model, seqs) / COMP_LEN).mean()


def dpop_loss(policy, reference, chosen, rejected):
    pc, pr = seq_logp(policy, chosen), seq_logp(policy, rejected)
    rc = mx.stop_gradient(seq_logp(reference, chosen))
    rr = mx.stop_gradient(seq_logp(reference, rejected))
    penalty = mx.maximum(0.0, rc - pc)
    z = BETA * ((pc - rc) - (pr - rr) - LAMBDA_DPOP * penalty)
    loss = -nn.log_sigmoid(z).mean()
    chosen_reward = BETA * (pc - rc)
    rejected_reward = BETA * (pr - rr)
    acc = (chosen_reward > rejected_reward).astype(mx.float32).mean()
    return loss, mx.stack(
        [chosen_reward.mean(), rejected_reward.mean(), penalty.mean(), acc]
    )


def restart_schedule(step):
    phase = mx.remainder(step, CYCLE).astype(mx.float32) / CYCLE
    return 0.5 * PEAK_LR * (1.0 + mx.cos(math.pi * phase))


def house_style_rate(model, chosen):
    # greedy decode the 4 codes after SEP and compare to the house style
    seq = chosen[:, :PROMPT_LEN]
    for _ in range(N):
        nxt = mx.argmax(model(seq)[:, -1, :], axis=-1)
        seq = mx.concatenate([seq, nxt[:, None].astype(seq.dtype)], axis=1)
    gen = seq[:, PROMPT_LEN:]
    house = chosen[:, PROMPT_LEN : PROMPT_LEN + N]
    return mx.all(gen == house, axis=1).astype(mx.float32).mean().item()


def pick_rate(model, chosen, rejected):
    return (seq_logp(model, chosen) > seq_logp(model, rejected)).astype(mx.float32).mean().item()


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    tr_c, tr_r = make_cards(rng, 5000)
    va_c, va_r = (mx.array(a) for a in make_cards(rng, 200))

    policy = build_model()
    print(f"tiny llama: {sum(v.size for _, v in tree_flatten(policy.parameters()))} parameters")

    # ---- stage 1: supervised fit on both styles (quiet) ----
    t0 = time.time()
    sft_opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
    sft_opt.init(policy.trainable_parameters())
    sft_grad = nn.value_and_grad(policy, sft_loss)
    st = [policy.state, sft_opt.state]

    @partial(mx.compile, inputs=st, outputs=st)
    def sft_step(seqs):
        loss, g = sft_grad(policy, seqs)
        sft_opt.update(policy, g)
        return loss

    both = np.concatenate([tr_c, tr_r], axis=0)
    running = []
    for step in range(SFT_STEPS):
        idx = rng.integers(0, both.shape[0], BATCH)
        loss = sft_step(mx.array(both[idx]))
        mx.eval(st, loss)
        running.append(loss.item())
    print(f"stage 1 (supervised, both styles): {SFT_STEPS} steps, last-20 loss "
          f"{np.mean(running[-20:]):.4f} (two-style floor {math.log(2) / COMP_LEN:.4f}), "
          f"{time.time() - t0:.1f}s")

    reference = build_model()
    reference.update(tree_map(lambda x: x, policy.parameters()))
    reference.freeze()
    mx.eval(reference.parameters())
    ref_pick = pick_rate(reference, va_c, va_r)
    ref_house = house_style_rate(reference, va_c)
    print(f"reference: pick-rate {ref_pick:.3f}  house-style greedy {ref_house:.3f}")

    # ---- stage 2: DPOP with cosine warm restarts ----
    opt = optim.Adam(learning_rate=restart_schedule)
    opt.init(policy.trainable_parameters())
    pref_grad = nn.value_and_grad(policy, lambda m, c, r: dpop_loss(m, reference, c, r))
    st2 = [policy.state, opt.state, reference.state]

    @partial(mx.compile, inputs=st2, outputs=st2)
    def pref_step(c, r):
        (loss, aux), g = pref_grad(policy, c, r)
        opt.update(policy, g)
        return loss, aux

    total = CYCLE * CYCLES
    for step in range(1, total + 1):
        idx = rng.integers(0, tr_c.shape[0], BATCH)
        lr_now = restart_schedule(mx.array(step - 1)).item()
        loss, aux = pref_step(mx.array(tr_c[idx]), mx.array(tr_r[idx]))
        mx.eval(st2, loss, aux)
        if step == 1 or step % 10 == 0 or step % CYCLE == 1:
            cr, rr, pen, acc = aux.tolist()
            print(f"dpop step {step:3d}  lr {lr_now:.2e}  loss {loss.item():.4f}  "
                  f"chosen_reward {cr:+.3f}  rejected_reward {rr:+.3f}  "
                  f"margin {cr - rr:+.3f}  penalty {pen:.4f}  acc {acc:.2f}")
        if step % CYCLE == 0:
            print(f"  [val] end of cycle {step // CYCLE}: pick-rate {pick_rate(policy, va_c, va_r):.3f} "
                  f"(reference {ref_pick:.3f})  house-style greedy {house_style_rate(policy, va_c):.3f} "
                  f"(reference {ref_house:.3f})")

    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
