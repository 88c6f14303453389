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

        # Process all regular experts at once
        regular_mask = topk_indices < self.n_routed_experts
        inputs_expanded = mx.tile(hidden_states_flat[:, None, :], (1, self.num_experts_per_tok, 1))
        regular_outputs = self.switch_mlp(inputs_expanded, topk_indices[..., None]).squeeze(-2)

        # Zero out invalid experts and apply weights
        regular_outputs = mx.where(regular_mask[..., None], regular_outputs, 0.0)
        weighted_outputs = regular_outputs * topk_weights[..., None]

        # Add identity expert contribution if needed
        if self.zero_expert_num is not None and self.zero_expert_type == "identity":
            identity_mask = topk_indices >= self.n_routed_experts
            identity_weights = mx.where(identity_mask, topk_weights, 0.0)
            identity_outputs = inputs_expanded * identity_weights[..., None]
            weighted_outputs = weighted_outputs + identity_outputs

        final_output = mx.sum(weighted_outputs, axis=1)
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
