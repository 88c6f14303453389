# Tiny LongCat-style MoE language model (top-2 routed SwitchGLU experts)
# trained on synthetic counting sequences with a compiled train step.
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx_lm.models.switch_layers import SwitchGLU

VOCAB, SEQ, DIM, HID = 24, 16, 32, 48
N_ROUTED, TOPK = 4, 2


class TopkRouter(nn.Module):
    def __init__(self):
        super().__init__()
        self.top_k = TOPK
        self.n_routed_experts = N_ROUTED
        self.routed_scaling_factor = 1.0
        self.classifier = nn.Linear(DIM, self.n_routed_experts, bias=False)

    def __call__(self, hidden_states):
        router_logits = self.classifier(hidden_states.astype(mx.float32))
        scores = mx.softmax(router_logits, axis=-1)
        sorted_indices = mx.argsort(-scores, axis=-1)
        topk_indices = mx.stop_gradient(sorted_indices[..., : self.top_k])
        batch_indices = mx.arange(topk_indices.shape[0])[:, None]
        topk_weights = scores[batch_indices, topk_indices]
        denominator = mx.sum(topk_weights, axis=-1, keepdims=True) + 1e-20
        topk_weights = topk_weights / denominator
        topk_weights = topk_weights * self.routed_scaling_factor
        return topk_indices, topk_weights


class CaskMoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.num_experts_per_tok = TOPK
        self.n_routed_experts = N_ROUTED
        self.zero_expert_num = None  # no zero experts in this small config
        self.zero_expert_type = "identity"
        self.switch_mlp = SwitchGLU(DIM, HID, N_ROUTED)
        self.router = TopkRouter()

    def __call__(self, hidden_states):
        orig_shape = hidden_states.shape
        hidden_states_flat = hidden_states.reshape(-1, hidden_states.shape[-1])

        topk_indices, topk_weights = self.router(hidden_states_flat)

        # Initialize output
        final_output = mx.zeros_like(hidden_states_flat).astype(topk_weights.dtype)

        # Process token by token to handle mixed expert types
        batch_size, top_k = topk_indices.shape

        # Collect outputs for each token
        token_outputs = []

        for token_idx in range(batch_size):
            token_input = hidden_states_flat[token_idx:token_idx+1]  # Keep batch dimension
            token_output = mx.zeros_like(token_input).astype(topk_weights.dtype)

            for k in range(top_k):
                expert_idx = topk_indices[token_idx, k]
                weight = topk_weights[token_idx, k]

                if expert_idx < self.n_routed_experts:
                    # Regular expert - use SwitchGLU
                    expert_indices = mx.array([[expert_idx]], dtype=mx.int32)
                    expert_output = self.switch_mlp(token_input, expert_indices)
                    token_output = token_output + weight * expert_output.squeeze(-2)

                elif (self.zero_expert_num is not None and
                      expert_idx >= self.n_routed_experts and
                      self.zero_expert_type == "identity"):
                    # Zero expert with identity
                    token_output = token_output + weight * token_input.squeeze(0)

            token_outputs.append(token_output.squeeze(0))

        # Stack all token outputs
        final_output = mx.stack(token_outputs, axis=0)
        return final_output.reshape(*orig_shape).astype(hidden_states.dtype)


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.norm1 = nn.RMSNorm(DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, HID), nn.GELU(), nn.Linear(HID, DIM))
        self.norm2 = nn.RMSNorm(DIM)
        self.moe = CaskMoE()
        self.out_norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, x):
        h = self.embed(x) + self.pos(mx.arange(x.shape[1]))
        h = h + self.mlp(self.norm1(h))
        h = h + self.moe(self.norm2(h))
        return self.head(self.out_norm(h))


def make_batch(rng, bs):
    # each row counts upward from a random start with a random stride (mod VOCAB)
    start = rng.integers(0, VOCAB, size=(bs, 1))
    stride = rng.integers(1, 4, size=(bs, 1))
    seq = (start + stride * np.arange(SEQ + 1)[None, :]) % VOCAB
    return mx.array(seq[:, :-1]), mx.array(seq[:, 1:])


def loss_fn(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    model = TinyLM()
    mx.eval(model.parameters())
    optimizer = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    state = [model.state, optimizer.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        return loss

    vx, vy = make_batch(np.random.default_rng(99), 64)
    print(f"uniform-guess loss {np.log(VOCAB):.3f}")
    tic = time.perf_counter()
    running = 0.0
    for it in range(1, 401):
        x, y = make_batch(rng, 16)
        loss = step(x, y)
        mx.eval(state, loss)
        running += loss.item()
        if it % 50 == 0:
            val = loss_fn(model, vx, vy).item()
            acc = (mx.argmax(model(vx), axis=-1) == vy).mean().item()
            print(f"Iter {it}: train loss {running / 50:.3f}, val loss {val:.3f}, "
                  f"val acc {acc * 100:.1f}%, {time.perf_counter() - tic:.1f}s")
            running = 0.0
    print("done")


if __name__ == "__main__":
    main()
