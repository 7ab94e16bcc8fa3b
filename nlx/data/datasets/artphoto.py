"""See `nlx.data.datasets.emotion` for the expected release layout."""

from nlx.data.datasets import emotion

load = emotion.loader("artphoto")
