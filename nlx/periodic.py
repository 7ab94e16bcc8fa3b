"""When a periodic action is due: one helper for every "every N steps/epochs" in the loop.

After big_vision's `u.itstime(step, every_n_steps, total_steps)`: the trainer asks
`itstime` whether to log, evaluate or checkpoint, instead of hand-rolling `if` chains.
"""


def itstime(step: int, every: int, total: int, *, last: bool = True) -> bool:
  """True when `step` (1-based count of steps or epochs done) is a multiple of `every`
  (`every <= 0`: never), or, with `last`, when `step == total` (the run's last one).

  Example: `itstime(s, 50, 120)` is True at s = 50, 100 and 120."""
  return (last and step == total) or (every > 0 and step % every == 0)
