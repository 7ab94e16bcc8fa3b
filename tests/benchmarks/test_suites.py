"""nlx.benchmarks.suites and cells: a cell's config is its suite's file in configs/ with the
variant `METHOD,SETTING` and the config files' overrides; a finished cell is reused only
under its own config."""

import os

import pytest
from conftest import load_config

from nlx import io
from nlx import workdir as workdir_lib
from nlx.benchmarks import cells, suites
from nlx.errors import ConfigError


def test_benchmark_suites_load_the_config_files():
  """Each cell is built from its suite's file in configs/."""
  cell = suites.suite_config("digits", "gce", "sym20", 2).to_dict()
  config = load_config("baselines", "gce,sym20").to_dict()
  assert (cell["seed"], cell["noise"]["seed"], cell["train"]["eval_every_epochs"]) == (2, 2, 30)
  assert cell["noise"]["rate"] == config["noise"]["rate"] == 0.2
  for key in ("seed", "noise", "train"):
    del cell[key], config[key]
  assert cell == config
  cell = suites.suite_config("cifar10n_cpu",
                             "arnet+method.num_prototypes=16+method.read_temperature=0.5",
                             "worst+clean10", 1, data_dir="/d", epochs=3)
  assert (cell.data.name, cell.data.label_set, cell.data.clean_fraction) == ("features", "worst",
                                                                             0.1)
  assert (cell.method.num_prototypes, cell.method.read_temperature) == (16, 0.5)
  assert (cell.train.num_epochs, cell.train.eval_every_epochs, cell.data.data_dir) == (3, 3, "/d")
  cell = suites.suite_config("fi", "arnet", "sym40", 1, epochs=3)
  assert (cell.noise.rate, cell.train.num_epochs) == (0.4, 3)  # epochs was ignored here
  cell = suites.suite_config("fashion_mnist", "ce", "pair40", 0)
  assert (cell.model.name, cell.data.batch_size, cell.noise.type) == ("mlp", 256, "pair")
  with pytest.raises(ConfigError, match="'sym20' and 'sym40'"):
    suites.suite_config("digits", "ce", "sym20+sym40", 0)


def test_a_cell_is_the_config_file_with_its_variant_and_flag_overrides():
  """One syntax: the spec's words are the file's variant words, its KEY=VALUEs are what
  `--config.KEY=VALUE` would set (typed by the key, any key of the config)."""
  cell = suites.suite_config("cifar10n_cpu", "elr+method.lam=1+optimizer.learning_rate=0.01",
                             "aggre", 0)
  config = load_config("cifar10n_cpu", "elr,aggre")
  assert (cell.method.name, cell.data.label_set) == (config.method.name, "aggre")
  assert cell.method.lam == 1.0 and isinstance(cell.method.lam, float)
  assert cell.optimizer.learning_rate == 0.01
  assert suites.parse_spec("worst+clean10") == (("worst", "clean10"), ())
  assert suites.parse_spec("sinet+method.hierarchy=+method.descriptions=cifar10") == (
      ("sinet",), ("method.hierarchy=", "method.descriptions=cifar10"))
  cell = suites.suite_config("cifar10n_cpu", "sinet+method.hierarchy=", "worst", 0)
  assert cell.method.hierarchy == ""
  with pytest.raises(ConfigError, match="method.nope"):
    suites.suite_config("digits", "ce+method.nope=1", "sym40", 0)
  with pytest.raises(ConfigError, match="num_prototypes"):
    suites.suite_config("cifar10n_cpu", "arnet+method.num_prototypes=many", "worst", 0)
  # the old syntax is an error that says what to write
  with pytest.raises(ConfigError, match=r"'elr\+method.lam=1.0'"):
    suites.suite_config("digits", "elr@lam=1.0", "sym40", 0)


def test_benchmarks_reuse_a_finished_cell_only_under_its_own_config(tmp_path):
  """A cell's finished run is reused when it was made under the same config; one made under
  another (here 10 epochs against 30) is an error naming the key, not another run's result."""
  config = suites.suite_config("digits", "ce", "sym40", 0)
  workdir = str(tmp_path)
  assert cells.finished_results(workdir, config) is None  # nothing run yet
  workdir_lib.write_record(workdir, config, None, step=1)
  io.write_json(os.path.join(workdir, "results.json"), {"wall_time_s": 3.0})
  assert cells.finished_results(workdir, config) == {"wall_time_s": 3.0}
  shorter = suites.suite_config("digits", "ce", "sym40", 0, epochs=10)
  with pytest.raises(ConfigError, match=r"train.num_epochs: 30 -> 10"):
    cells.finished_results(workdir, shorter)
  longer = suites.suite_config("digits", "ce", "sym40", 0, epochs=40)
  longer.train.allow_more_epochs = True  # lets a *resume* extend; a finished run stays 30
  with pytest.raises(ConfigError, match="finished run of fewer epochs"):
    cells.finished_results(workdir, longer)


def test_cells_name_their_workdirs_and_reuse_a_finished_one(tmp_path):
  suite_cells = cells.Cells("digits", str(tmp_path), epochs=2)
  workdir = suite_cells.workdir("elr+method.lam=1.0", "sym40", 1)
  assert workdir == os.path.join(str(tmp_path), "digits", "elr+method.lam=1.0", "sym40", "seed1")
  config = suite_cells.config("elr+method.lam=1.0", "sym40", 1)
  assert (config.train.num_epochs, config.method.lam, config.seed) == (2, 1.0, 1)
  os.makedirs(workdir)
  workdir_lib.write_record(workdir, config, None, step=1)
  io.write_json(os.path.join(workdir, "results.json"), {"test": {"accuracy": 0.5}})
  assert suite_cells.run("elr+method.lam=1.0", "sym40", 1) == {"test": {"accuracy": 0.5}}


def test_a_suite_without_its_data_is_a_one_line_error(tmp_path):
  with pytest.raises(ConfigError, match="--suite=fi needs --data_dir"):
    cells.suite_data_dir("fi", data_dir="", workroot=str(tmp_path))
  with pytest.raises(ConfigError, match="needs --cifar10_dir"):
    cells.suite_data_dir("cifar10n_full", data_dir="", workroot=str(tmp_path))
  assert cells.suite_data_dir("digits", data_dir="", workroot=str(tmp_path)) == ""


def test_start_reads_the_suite_flags_in_the_order_a_script_needs(monkeypatch, tmp_path):
  calls = []
  monkeypatch.setattr(cells, "setup_cache", calls.append)  # not the test process's cache

  class Values:  # what define_suite_flags parses, set by hand
    workroot, data_dir, cifar10_dir, label_file, epochs = str(tmp_path), "", "", "", 3
    settings, seeds = None, ["2", "5"]

  got, settings, seeds = cells.start("digits", values=Values)
  assert calls == [str(tmp_path)]
  assert (got.suite, got.workroot, got.epochs) == ("digits", str(tmp_path), 3)
  assert settings == suites.DEFAULT_SETTINGS["digits"].split(",") and len(settings) > 1
  assert seeds == [2, 5]
  # a script's own default wins over the suite's; --settings over both
  assert cells.start("digits", ["sym0.2"], values=Values)[1] == ["sym0.2"]
  Values.settings = ["asym0.4", "sym0.6"]
  assert cells.start("digits", ["sym0.2"], values=Values)[1] == ["asym0.4", "sym0.6"]


@pytest.mark.slow  # 1.5 minutes: two digits runs of the suite's small CNN
def test_a_cells_unfinished_seeds_train_as_one_program_into_their_own_folders(tmp_path):
  suite_cells = cells.Cells("digits", str(tmp_path), epochs=1)
  got = suite_cells.run_seeds("ce", "sym40", [0, 1])
  parent = os.path.join(str(tmp_path), "digits", "ce", "sym40", "seeds0-1")
  summary = io.read_json(os.path.join(parent, "summary.json"))
  assert [r["workdir"] for r in summary["runs"]] == [os.path.join("..", "seed0"),
                                                     os.path.join("..", "seed1")]
  for seed, result in zip((0, 1), got, strict=True):
    # each cell is its seed's own run: finished under the cell's config, reused as is
    workdir = suite_cells.workdir("ce", "sym40", seed)
    assert cells.finished_results(workdir, suite_cells.config("ce", "sym40", seed)) == result
    assert result["test"]["accuracy"] == summary["runs"][seed]["test"]["accuracy"]
  assert got[0]["test"] != got[1]["test"] or got[0]["noise_rate"] != got[1]["noise_rate"]


def test_cells_train_together_only_where_that_is_the_same_as_one_by_one(tmp_path):
  def cell(seed, split_seed=None):
    c = suites.suite_config("digits", "ce", "sym40", seed, epochs=1)
    if split_seed is not None:
      c.data.split_seed = split_seed
    return c, str(tmp_path / f"seed{seed}")

  # one unfinished cell; seeds 0 and 2 (seed 1 would be the program's second run); a
  # split per seed (another key per seed): each is trained one by one, no folder made
  assert not cells.train_together([cell(0)], str(tmp_path))
  assert not cells.train_together([cell(0), cell(2)], str(tmp_path))
  assert not cells.train_together([cell(0, split_seed=0), cell(1, split_seed=1)],
                                  str(tmp_path))
  assert os.listdir(tmp_path) == []
