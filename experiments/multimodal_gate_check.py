"""Does nlx's convex gate (`convex`: g = sigmoid(a)) favour the informative modality?
Generated posts with one modality made useless: image features without class signal
(captions as usual, 60% carry a sentiment word), then captions without sentiment words
(image class means 0.3 apart).

  python experiments/multimodal_gate_check.py [--gate_lr_multipliers=1,10,100]

Trains `configs/multimodal.py:convex` (8 epochs, 16 tokens) on each, with the gate's
learning rate times each multiplier (`optimizer.lr_multipliers=gate=M`), and prints the
validation accuracy and the mean gate on the image branch (1/2 at the start; below 1/2
leans to the text).
"""

import numpy as np
from absl import app, flags, logging

from nlx import train
from nlx.config_base import load_file
from nlx.data import text
from nlx.data.datasets import multimodal
from nlx.models.multimodal import gate_of

flags.DEFINE_list("gate_lr_multipliers", ["1", "10", "100"], "Gate learning-rate factors.")
CASES = {"image features pure noise": {"image_shift": 0.0, "text_signal": 0.6},
         "captions without sentiment words": {"image_shift": 0.3, "text_signal": 0.0}}


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint file at INFO
  for (name, kw), mult in ((c, float(m)) for c in CASES.items()
                           for m in flags.FLAGS.gate_lr_multipliers):
    config = load_file("multimodal", "convex")
    config.train.num_epochs, config.train.progress_bar = 8, False
    if mult != 1:
      config.optimizer.lr_multipliers = f"gate={mult:g}"
    config.data.text_len = 16
    feats, captions, labels = multimodal.make_synthetic(4000, 0, **kw)
    ds = multimodal.pack(feats, [text.tokenize(c) for c in captions], labels, np.arange(3000),
                         np.arange(3000, 4000), config.data, "multimodal_synthetic",
                         multimodal.SENTIMENT)
    ds.info["noise_rate"] = 0.0
    workdir = f"workdirs/multimodal_gate_check/{name.replace(' ', '_')}"
    workdir += f"_gate_lr_x{mult:g}" if mult != 1 else ""
    result = train.train_and_evaluate(config, workdir, dataset=ds)
    trainer = train.Trainer(config, ds)
    state = result["state"]
    gate = np.asarray(gate_of(trainer.graphdef, state.params["model"], state.model_state))
    print(f"{name}, gate lr x{mult:g}: accuracy {100 * result['test']['accuracy']:.1f}%, "
          f"mean gate on the image branch {gate.mean():.3f}, {100 * (gate > 0.5).mean():.0f}% of "
          f"its {gate.size} entries above 1/2", flush=True)


if __name__ == "__main__":
  app.run(main)
