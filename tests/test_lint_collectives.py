"""MLX073 on small programs: a collective's result evaluated only on rank 0; and the near
misses that stay silent (evaluated on every rank first, a collective inside a rank's own
branch, evaluated outside the branch)."""

from __future__ import annotations

from lint_snippets import fired

RANKS = """
def train(group):
    rank = group.rank()
    for epoch in range(3):
        total = mx.array(1.0)
        avg = mx.distributed.all_sum(total, group=group) / group.size()
        {before}
        if rank == 0:
            print(f"loss {{avg.item():.4f}}")
"""


def test_mlx073_a_collective_evaluated_on_rank_0_only() -> None:
    assert fired(RANKS.format(before=""), "MLX073") == [6]
    inline = RANKS.replace("    rank = group.rank()\n", "").replace("if rank == 0",
                                                                     "if group.rank() == 0")
    assert fired(inline.format(before=""), "MLX073") == [5]


def test_mlx073_silent_when_every_rank_evaluates_it() -> None:
    assert fired(RANKS.format(before="mx.eval(avg)"), "MLX073") == []
    assert fired(RANKS.format(before="history.append(avg.item())"), "MLX073") == []


def test_mlx073_silent_on_a_collective_inside_a_ranks_branch() -> None:
    code = """
def share(world, src):
    if world.rank() == src:
        mx.eval(mx.distributed.all_sum(4))
    else:
        size = mx.distributed.all_sum(0)
        print(size.item())
"""
    assert fired(code, "MLX073") == []
