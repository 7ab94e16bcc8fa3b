"""Image + caption posts labelled from ANP scores (MVSO format); see `nlx.data.datasets.multimodal`."""

from nlx.data.datasets import multimodal


def load(config):
  return multimodal.load_anp(config)
