"""SINet on Clothing1M (14 classes, 1M web images with real noise; Cheng et al., ECCV 2020).

Command:  python -m nlx.main --config=configs/sinet_clothing1m.py:C \
            --config.data.data_dir=DIR --config.model.pretrained=resnet34-b627a593.pth
          DIR: the Clothing1M release (category_names_eng.txt, noisy/clean_label_kv.txt,
          the key lists and images/; see nlx/data/datasets/web_noisy.py).
          Variants: C (Model-C, weighted CE, default) | B (high-weight images only) |
          A (plain CE); tiny. Side information: the bundled hand-written hierarchy of
          the 14 classes (`method.hierarchy=clothing1m`); add label descriptions with
          --config.method.descriptions=FILE (`class: text` lines).
          The per-example weights are the trust score (results.json: noise_detection).
Runtime:  a GPU job (ResNet-34, 224x224, 10 epochs over 1M images); not run here (no
          Clothing1M on this machine; without it the run stops naming the files).
Expected: the paper reports Model-C above CE and the other baselines on Clothing1M.
"""

from nlx.config_presets import web_images


def get_config(variant: str = ""):
  c, _ = web_images("clothing1m", variant, method="sinet", lr=0.002, epochs=10, step_epochs=(5,))
  c.method.hierarchy = "clothing1m"
  return c
