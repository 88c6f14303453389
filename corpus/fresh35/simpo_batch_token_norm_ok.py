# SimPO (reference-free preference optimisation) on a toy "counting" task.
# Chosen responses continue the prompt by counting up mod 10, rejected ones are random.
import json, random, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V = 10
random.seed(0)
mx.random.seed(0)


def make_pair():
    prompt = [random.randrange(V) for _ in range(random.randint(2, 4))]
    start = prompt[-1]
    chosen = [(start + 1 + i) % V for i in range(random.randint(4, 14))]
    rejected = [random.randrange(V) for _ in range(random.randint(4, 14))]
    return prompt, chosen, rejected


def pack(prompt, resp, T=20):
    ids = prompt + resp
    labels = [-100] * len(prompt) + resp
    pad = T - len(ids)
    return ids + [0] * pad, labels + [-100] * pad


def batch(n):
    ci, cl, ri, rl = [], [], [], []
    for _ in range(n):
        p, c, r = make_pair()
        a, b = pack(p, c); ci.append(a); cl.append(b)
        a, b = pack(p, r); ri.append(a); rl.append(b)
    return mx.array(ci), mx.array(cl), mx.array(ri), mx.array(rl)


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 32)
        self.l1 = nn.Linear(32, 64)
        self.out = nn.Linear(64, V)

    def __call__(self, x):
        return self.out(nn.gelu(self.l1(self.emb(x))))


def sequence_logprobs(model, input_ids, labels):
    logits = model(input_ids[:, :-1])
    targets = labels[:, 1:]
    mask = targets != -100
    safe = mx.where(mask, targets, 0)
    log_probs = nn.log_softmax(logits, axis=-1)
    tok = mx.take_along_axis(log_probs, safe[..., None], axis=-1).squeeze(-1)
    logps = (tok * mask).sum(axis=1)  # (B,)
    ntoks = mask.sum(axis=1)  # (B,) per-sequence counts
    return logps, ntoks


BETA = 2.0


def simpo_loss(model, ci, cl, ri, rl):
    c_lp, c_n = sequence_logprobs(model, ci, cl)
    r_lp, r_n = sequence_logprobs(model, ri, rl)
    # SimPO: length-normalised log-probs are the implicit rewards
    chosen_rewards = c_lp / mx.maximum(c_n, 1)
    rejected_rewards = r_lp / mx.maximum(r_n, 1)
    return -nn.log_sigmoid(BETA * (chosen_rewards - rejected_rewards)).mean()


model = TinyLM()
mx.eval(model.parameters())
optimizer = optim.SGD(learning_rate=0.5)
loss_and_grad = nn.value_and_grad(model, simpo_loss)
held_out = batch(256)

t0 = time.time()
for step in range(1, 601):
    loss, grads = loss_and_grad(model, *batch(32))
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
    if step == 1 or step % 50 == 0:
        c_lp, _ = sequence_logprobs(model, held_out[0], held_out[1])
        n_c = (held_out[1][:, 1:] != -100).sum(axis=1)
        rec = {"step": step, "simpo_loss": round(loss.item(), 4),
               "heldout_loss": round(simpo_loss(model, *held_out).item(), 4),
               "chosen_logp_per_tok": round((c_lp / n_c).mean().item(), 3),
               "sec": round(time.time() - t0, 1)}
        print(json.dumps(rec), flush=True)
