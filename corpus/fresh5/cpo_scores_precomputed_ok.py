"""CPO (contrastive preference optimisation, reference-free) on a tiny causal LM.
Chosen completions follow the 'house style' (each token = previous + 1 mod V),
rejected ones are random. Loss = -logsigmoid(beta * (s_c - s_r)) + NLL(chosen)."""
import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, DIM, L, BETA = 24, 48, 10, 0.5


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, DIM)
        self.rnn = nn.GRU(DIM, DIM)
        self.out = nn.Linear(DIM, V)

    def __call__(self, x):
        return self.out(self.rnn(self.emb(x)))


def token_logps(model, seqs):
    logits = model(seqs[:, :-1])
    lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return mx.take_along_axis(lp, seqs[:, 1:, None], axis=-1).squeeze(-1)


def seq_score(token_lp):
    return token_lp.mean(axis=-1)          # average log-prob per token


def cpo_loss(chosen_score, rejected_score):
    pref = -nn.log_sigmoid(BETA * (chosen_score - rejected_score)).mean()
    nll = -chosen_score.mean()
    return pref + nll, (chosen_score - rejected_score).mean()


def make_pairs(n, rng):
    start = rng.integers(0, V, n)
    chosen = (start[:, None] + np.arange(L)[None]) % V
    rejected = np.concatenate([start[:, None], rng.integers(0, V, (n, L - 1))], axis=1)
    return mx.array(chosen.astype(np.int32)), mx.array(rejected.astype(np.int32))


def main():
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    model = TinyLM()
    opt = optim.Adam(learning_rate=3e-3)

    def loss_wrapper(chosen, rejected):
        chosen_score = seq_score(token_logps(model, chosen))
        rejected_score = seq_score(token_logps(model, rejected))
        return cpo_loss(chosen_score, rejected_score)

    loss_value_and_grad = nn.value_and_grad(model, loss_wrapper)

    print(f"{'it':>4} {'loss':>8} {'margin':>8} {'chosen_logp':>12}")
    for it in range(1, 201):
        chosen, rejected = make_pairs(32, rng)
        # score both sides first (one forward each), then differentiate the CPO objective
        chosen_score = seq_score(token_logps(model, chosen))
        rejected_score = seq_score(token_logps(model, rejected))
        (loss, margin), grads = loss_value_and_grad(chosen, rejected)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, margin)
        if it % 20 == 0:
            print(f"{it:4d} {loss.item():8.4f} {margin.item():8.4f} {chosen_score.mean().item():12.4f}")


if __name__ == "__main__":
    main()
