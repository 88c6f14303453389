"""A two-player loss that rose to its game's equilibrium: no explosion.

Job: `reached(raw, last)`: the judged loss is one player's of a two-player game
(`program.two_player`: `d_loss`, `d_hinge`, `critic_loss`) and its last window's median is
at most GAME_LEVEL. A discriminator that won its warm-up (or the first steps, before the
generator learned anything) sits far below its game's equilibrium, and its loss climbs
toward that equilibrium as the generator catches up: a rise of 2x or more that is the game
working, not a blow-up. `diverged.exploding` stands down on it; a non-finite loss and a
rise past GAME_LEVEL stay blown.

Threshold and why: GAME_LEVEL = 4.0, twice the largest equilibrium of the common
objectives: the hinge discriminator loss's is 2 (relu(1 - D(real)) + relu(1 + D(fake)) with
D at 0), the BCE discriminator loss's 2 ln 2 = 1.39, least squares' 0.5. Measured: failure
corpus fresh212 `icerink_resurface_hinge_gan` (a correct hinge GAN with an 80-iteration
critic warm-up), d_hinge 0.44 -> 0.63 at the generator's first report -> 1.3-2.0 for the
rest of the run while the sliced Wasserstein distance to the data fell 0.78 -> 0.15; the
GAN losses of the rest of the corpus (fresh153, fresh165, fresh168) stay at 0.25-1.4.

Must not import: mlx, the runner.
"""

from __future__ import annotations

from ..watching.facts import RawResult
from . import program

GAME_LEVEL = 4.0


def reached(raw: RawResult, last: float) -> bool:
    """The judged loss is a two-player one and ended at or below GAME_LEVEL."""
    return program.two_player(raw) and last <= GAME_LEVEL
