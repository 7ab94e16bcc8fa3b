"""Generated image + caption posts with a known answer; see `nlx.data.datasets.multimodal`."""

from nlx.data.datasets import multimodal


def load(config):
  return multimodal.load_synthetic(config)
