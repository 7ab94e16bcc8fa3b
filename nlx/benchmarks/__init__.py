"""Benchmarks as library code: the suites, cells and tables behind `experiments/`.

The scripts in `experiments/` parse their flags and call these modules; tests and
notebooks import them the same way.

- `suites`: the benchmark suites (each a file in `configs/`), a cell's config, and the
  one variant syntax of cells (`WORD+WORD+KEY=VALUE`, `suites.parse_spec`).
- `protocols`: CIFAR-10N's CPU protocol (the cached backbone features).
- `cells`: running a cell in its workdir, reusing a finished one only under its own
  config, and a suite's tables (methods x settings, mean ± std over seeds).
- `output`: the command line, files and mean ± std text every table writes.
- `timing`: medians of timed calls and the train-step timings the `bench_*` scripts share.
- One module per study: `arnet_ablation`, `can_latent`, `sinet_tables`, `figures`,
  `label_issue_finding`, `multimodal_table`, `cifar10_quick`, `conv_speed`, `gpu_check`,
  `image_features`.
"""
