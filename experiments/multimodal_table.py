"""The multimodal study's Table 8/9 layout: test accuracy of every fusion (image only,
text only, concatenation, the study's GL1 / GL2 / mixed gates, nlx's convex gate), with a
class output and with a label-embedding output, under each label-noise setting.

  python experiments/multimodal_table.py --seeds=0,1,2 --noise=clean,sym40
  python experiments/multimodal_table.py --dataset=anp --data_dir=DIR [--loss=hinge]

Each cell is `configs/multimodal.py` trained in
--workroot/multimodal_DATASET/NOISE/VARIANT/seedN (reused when finished); the
label-embedding models start from their fusion's class-output run, as in the study
(nlx.benchmarks.multimodal_table). Writes --out/multimodal_DATASET.md: accuracy (%)
mean ± std over --seeds per noise setting and, for the gated fusions, the mean gate
activation of each branch on the test posts.
"""

import os

from absl import app, flags

from nlx.benchmarks import cells, multimodal_table, output

cells.define_suite_flags()
flags.DEFINE_enum("dataset", "synthetic", ["synthetic", "anp"], "Dataset of the table.")
flags.DEFINE_enum("loss", "cosine", ["cosine", "mse", "hinge"], "Label-embedding loss.")
flags.DEFINE_list("noise", ["clean"], "Label-noise settings: clean, sym20, sym40.")
flags.DEFINE_list("fusions", ["image", "text", "concat", "gl1", "gl2", "mixed", "convex"],
                  "Rows (model.fusion values).")
flags.DEFINE_list("outputs", ["class", "embed"], "Columns: class output, label embedding.")
FLAGS = flags.FLAGS


@output.one_line_errors
def main(argv):
  del argv
  cells.setup_cache(FLAGS.workroot)
  table = multimodal_table.MultimodalCells(FLAGS.workroot, FLAGS.dataset, FLAGS.loss,
                                           FLAGS.data_dir)
  text = table.tables(list(FLAGS.fusions), FLAGS.outputs, FLAGS.noise,
                      [int(s) for s in FLAGS.seeds], command=output.command_line())
  output.write_text(os.path.join(FLAGS.out, f"multimodal_{FLAGS.dataset}.md"), text)
  print(text)


if __name__ == "__main__":
  app.run(main)
