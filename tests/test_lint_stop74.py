"""Stop 74's lint changes, on the spelling their corpus case had and on the ones the rules must
leave alone: MLX031 following a field filled with a nested tree in one function and spread
into `mx.savez` in another.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

from lint_snippets import fired

CHECKPOINTED = """
@dataclass
class Checkpoint:
    step: int
    model_state: dict


def save(checkpoint):
    mx.savez("model.npz", **checkpoint.model_state)


def train(model, loss_fn, optimizer):
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    for step in range(3):
        loss, grads = loss_and_grad(model, step)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        model_state = FILL
        save(Checkpoint(step=step, model_state=model_state))
"""


def test_a_field_filled_with_a_nested_tree_and_saved_in_another_function_is_found() -> None:
    # fresh252 cobbler_satchel_ledger (your_ai 312b674): RuntimeError std::bad_cast
    assert fired(CHECKPOINTED.replace("FILL", "dict(model.parameters())"), "MLX031") == [9]


def test_a_field_filled_flat_or_also_flat_elsewhere_is_left_alone() -> None:
    flat = "dict(tree_flatten(model.parameters()))"
    assert fired(CHECKPOINTED.replace("FILL", flat), "MLX031") == []
    mixed = CHECKPOINTED.replace("FILL", "dict(model.parameters())") + (
        "\n\nsave(Checkpoint(step=0, model_state=dict(tree_flatten(model.parameters()))))\n")
    assert fired(mixed, "MLX031") == []


def test_one_entry_of_a_shape_iterated_is_found() -> None:
    # fresh254 aurora_raymarch_probe (nerf_meets_mlx 1e08319): TypeError at the first render
    code = """
    def run_model(inputs, net):
        flat = net(inputs.reshape(-1, inputs.shape[-1]))
        return mx.reshape(flat, list(inputs.shape[-1]) + [flat.shape[-1]])
    for i in x.shape[0]:
        print(i)
    rows = [*x.shape[1], 4]
    """
    assert fired(code, "MLX252") == [4, 5, 7]


def test_a_slice_of_a_shape_or_a_range_over_an_entry_is_left_alone() -> None:
    code = """
    out = mx.reshape(flat, list(inputs.shape[:-1]) + [flat.shape[-1]])
    for i in range(x.shape[0]):
        print(i)
    rows = [*x.shape[1:], 4]
    n = list(x.shape)[k]
    """
    assert fired(code, "MLX252") == []
