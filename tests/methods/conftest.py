"""Fixtures of the method tests: the `StepContext` a method's `loss_fn` gets in the step."""

import functools

import jax.numpy as jnp
import pytest

from nlx import models, train


def make_step_context(step=0, *, trainer=None, steps_per_epoch=None, num_classes=None):
  """The `StepContext` of optimiser step `step`: with a `trainer`, its steps per epoch,
  class count and networks (`apply_fn`, and `apply_fns` by name), as in its jitted step;
  without, steps_per_epoch 1, 2 classes and no network (for losses on given outputs)."""
  apply_fn, apply_fns = None, {}
  if trainer is not None:
    steps_per_epoch = steps_per_epoch or trainer.steps_per_epoch
    num_classes = num_classes or trainer.dataset.num_classes
    apply_fn = functools.partial(models.apply, trainer.graphdef)
    apply_fns = {k: functools.partial(models.apply, g)
                 for k, g in trainer.graphdefs.items() if k != train.MODEL}
  return train.StepContext(jnp.asarray(step), steps_per_epoch or 1, num_classes or 2,
                           apply_fn, apply_fns)


@pytest.fixture
def step_context():
  """`step_context(step=0, *, trainer=None, steps_per_epoch=None, num_classes=None)`."""
  return make_step_context
