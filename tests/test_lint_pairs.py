"""MLX075 on small programs: inputs and labels shuffled apart; and the near misses that stay
silent (one permutation for both, a single array shuffled, a buffer shuffled then what was
made from it)."""

from __future__ import annotations

from lint_snippets import fired


def test_mlx075_two_permutations_for_inputs_and_labels() -> None:
    code = ("for e in range(3):\n    X = X[mx.random.permutation(N)]\n"
            "    Y = Y[mx.random.permutation(N)]\n")
    assert fired(code, "MLX075") == [3]
    code = ("p = np.random.permutation(N)\nq = np.random.permutation(N)\n"
            "xs = X[p]\nys = Y[q]\n")
    assert fired(code, "MLX075") == [4]
    assert fired("np.random.shuffle(X)\nnp.random.shuffle(Y)\n", "MLX075") == [2]


def test_mlx075_silent_on_one_permutation_and_staged_shuffles() -> None:
    code = "perm = mx.random.permutation(N)\nX = X[perm]\nY = Y[perm]\n"
    assert fired(code, "MLX075") == []
    assert fired("X = X[mx.random.permutation(N)]\nnp.random.shuffle(rows)\n", "MLX075") == []
    code = "rng.shuffle(rows)\nwindows = make(rows)\nrng.shuffle(windows)\n"
    assert fired(code, "MLX075") == []
