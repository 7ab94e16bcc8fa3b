"""WebVision 1.0; see `nlx.data.datasets.web_noisy` for the files it reads."""

from nlx.data.datasets import web_noisy


def load(config):
  return web_noisy.load_webvision(config)
