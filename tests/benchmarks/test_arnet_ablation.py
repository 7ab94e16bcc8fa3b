"""nlx.benchmarks.arnet_ablation: the choice of a reading, and the data each suite gets."""

from nlx.benchmarks import arnet_ablation, suites


def test_arnet_ablation_chooses_only_among_rows_run_on_every_seed():
  """A reading screened on one seed shows its seed and is never the validation choice, even
  with the best validation score: a one-seed mean is not comparable with a 3-seed one."""

  def runs(seeds, val):
    return [{"seed": s, "test": 0.5, "val": v, "collapse": None} for s, v in zip(seeds, val)]
  results = {"elr": runs([0, 1, 2], [0.9, 0.9, 0.9]),
             "arnet a": runs([0, 1, 2], [0.40, 0.42, 0.44]),
             "arnet b": runs([0, 1, 2], [0.45, 0.41, 0.43]),
             "arnet screened": runs([0], [0.99])}
  lines = arnet_ablation.cell_table(results, [0, 1, 2]).splitlines()
  chosen = [line for line in lines if "chosen on val" in line]
  assert len(chosen) == 1 and chosen[0].startswith("| **arnet b** (chosen on val) | 0,1,2 |")
  assert any(line.startswith("| arnet screened | 0 | 50.00 ± 0.00 | 99.00 ± 0.00 |")
             for line in lines)


def test_arnet_ablation_gives_the_features_cache_to_the_cifar10n_suites_only(tmp_path):
  """One command mixing suites: --data_dir reaches the CIFAR-10N cells alone (digits and
  Fashion-MNIST keep their own folders, so their runs' fingerprints are theirs), and an
  existing cache is used as it is, not rebuilt."""
  cache = tmp_path / "features"
  cache.mkdir()
  (cache / "features.npz").write_bytes(b"")  # present: nothing is built
  for suite in ("digits", "fashion_mnist", "face_sentiment"):
    assert arnet_ablation.data_dir_for(suite, str(cache), str(tmp_path)) == ""
  assert arnet_ablation.data_dir_for("cifar10n_cpu", str(cache), "unused") == str(cache)
  (tmp_path / "cifar10n_cpu_features").mkdir()
  (tmp_path / "cifar10n_cpu_features" / "features.npz").write_bytes(b"")
  assert arnet_ablation.data_dir_for("cifar10n_cpu", "", str(tmp_path)) == str(
      tmp_path / "cifar10n_cpu_features")  # the default cache, under the workroot


def test_arnet_rows_are_cells_of_the_config_files_syntax():
  rows = arnet_ablation.arnet_rows([("read0.1", "running", "0.2")])
  assert list(rows) == ["arnet read0.1 running lam=0.2"]
  c = suites.suite_config("digits", rows["arnet read0.1 running lam=0.2"], "sym40", 0)
  assert (c.method.name, c.method.read_temperature, c.method.cluster_temperature,
          c.method.target, c.method.lam) == ("arnet", 0.1, 1.0, "running", 0.2)
