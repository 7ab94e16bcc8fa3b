"""PASCAL VOC 2012 classification (multi-label); see `nlx.data.datasets.voc`."""

from nlx.data.datasets import voc


def load(config):
  return voc.load_year(config, "2012")
