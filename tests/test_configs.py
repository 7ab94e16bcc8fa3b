import glob
import os
import re
import sys

import pytest
from conftest import CONFIGS, REPO, load_config

from nlx import config_base
from nlx.config_base import parse_variant
from nlx.errors import ConfigError

NAMES = sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(f"{CONFIGS}/*.py"))


def variant_groups(name: str) -> dict[str, list[str]]:
  """A config's variant groups, read from the error an unknown word gives."""
  with pytest.raises(ConfigError, match="unknown config variant 'tyni'") as e:
    load_config(name, "tyni")
  choices = str(e.value).split("choices: ", 1)[1]
  return {group: words.split("|") for group, words in
          (item.split(": ") for item in choices.split("; "))}


@pytest.mark.parametrize("name", NAMES)
def test_config_docstring_default_and_tiny(name):
  with open(os.path.join(CONFIGS, f"{name}.py")) as f:
    source = f.read()
  doc = source.split('"""')[1]
  for field in ("Command:", "Runtime:", "Expected:"):
    assert field in doc, f"{name}: docstring lacks {field}"
  assert "python -m nlx.main" in doc
  for path in re.findall(r"experiments/\w+\.py", doc):
    assert os.path.isfile(os.path.join(REPO, path)), f"{name}: cites {path}, which does not exist"
  full, small = load_config(name), load_config(name, "tiny")
  assert small.train.num_epochs <= 2 and not small.train.progress_bar
  assert full.train.num_epochs > small.train.num_epochs
  with pytest.raises(AttributeError):
    full.train.num_epoch = 3  # locked: a typo is an error, not a new key
  with pytest.raises(AttributeError):
    full.method.lamm = 1  # c.method too, though configs replace it after base_config()


@pytest.mark.parametrize("name", NAMES)
def test_variant_groups_one_word_each(name):
  """Every word of every group loads; two words of one group are an error naming both (it
  used to pick one by hash seed); the order of the words does not matter."""
  groups = variant_groups(name)
  assert groups["size"] == ["tiny"]
  for group, words in groups.items():
    for word in words:
      load_config(name, word)
    if len(words) > 1:
      a, b = words[0], words[-1]
      with pytest.raises(ConfigError, match=f"two {group} words, '{a}' and '{b}'"):
        load_config(name, f"{a},{b}")
  firsts = [words[-1] for words in groups.values()]
  forward, backward = load_config(name, ",".join(firsts)), load_config(name, ",".join(firsts[::-1]))
  assert forward.to_dict() == backward.to_dict()


def test_parse_variant_by_hand():
  noise, method = ("sym20", "sym40"), ("elr", "gce")
  assert parse_variant("", noise=noise, method=method) == {"noise": None, "method": None,
                                                          "size": None}
  assert parse_variant(" gce , tiny,sym40,", noise=noise, method=method) == {
      "noise": "sym40", "method": "gce", "size": "tiny"}
  assert parse_variant("sym40,sym40", noise=noise) == {"noise": "sym40", "size": None}
  with pytest.raises(ConfigError, match="two noise words, 'sym20' and 'sym40'; give one"):
    parse_variant("sym20,sym40", noise=noise, method=method)
  with pytest.raises(ConfigError, match=r"unknown config variant 'sym30'; choices: "
                                        r"noise: sym20\|sym40; method: elr\|gce; size: tiny"):
    parse_variant("sym30", noise=noise, method=method)
  with pytest.raises(ValueError, match="'gce' is in groups a and b"):  # a config's own bug
    parse_variant("", a=("gce",), b=("gce",))


def test_the_words_that_were_coin_tosses():
  """`:sym20,sym40` gave sym40 4 times out of 6 (hash seed); now an error naming both."""
  for name, variant, first, second in [("ce_cifar10", "sym20,sym40", "sym20", "sym40"),
                                       ("baselines", "elr,gce", "elr", "gce"),
                                       ("arnet_fi", "sym20,sym40", "sym20", "sym40"),
                                       ("multimodal", "gl1,gl2", "gl1", "gl2")]:
    with pytest.raises(ConfigError, match=f"'{first}' and '{second}'"):
      load_config(name, variant)
  c = load_config("baselines", "gce,pair40")
  assert (c.method.name, c.noise.type, c.noise.rate) == ("gce", "pair", 0.4)
  c = load_config("multimodal", "hinge")  # was silently unused without `embed`
  assert (c.method.name, c.method.loss, c.model.output_dim) == ("label_embedding", "hinge", 50)


def test_config_path_from_any_folder(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  packaged = os.path.join(config_base.CONFIGS_DIR, "quickstart.py")
  assert os.path.isfile(packaged)
  assert config_base.config_path("configs/quickstart.py") == packaged
  assert config_base.config_path("./configs/quickstart.py") == packaged
  assert config_base.config_path("quickstart") == packaged
  (tmp_path / "configs").mkdir()
  (tmp_path / "configs" / "quickstart.py").write_text("")
  assert config_base.config_path("configs/quickstart.py") == "configs/quickstart.py"  # cwd wins
  assert config_base.config_path("other/x.py") == "other/x.py"  # not ours: left to fail


def test_benchmark_suites_load_the_config_files():
  """experiments/protocols.py builds each cell from its suite's file in configs/."""
  sys.path.insert(0, os.path.join(REPO, "experiments"))
  import protocols
  cell = protocols.suite_config("digits", "gce", "sym20", 2).to_dict()
  config = load_config("baselines", "gce,sym20").to_dict()
  assert (cell["seed"], cell["noise"]["seed"], cell["train"]["eval_every_epochs"]) == (2, 2, 30)
  assert cell["noise"]["rate"] == config["noise"]["rate"] == 0.2
  for key in ("seed", "noise", "train"):
    del cell[key], config[key]
  assert cell == config
  cell = protocols.suite_config("cifar10n_cpu", "arnet_L16@read_temperature=0.5",
                                "worst_clean10", 1, data_dir="/d", epochs=3)
  assert (cell.data.name, cell.data.label_set, cell.data.clean_fraction) == ("features", "worst",
                                                                             0.1)
  assert (cell.method.num_prototypes, cell.method.read_temperature) == (16, 0.5)
  assert (cell.train.num_epochs, cell.train.eval_every_epochs, cell.data.data_dir) == (3, 3, "/d")
  cell = protocols.suite_config("fi", "arnet", "sym40", 1, epochs=3)
  assert (cell.noise.rate, cell.train.num_epochs) == (0.4, 3)  # epochs was ignored here
  cell = protocols.suite_config("fashion_mnist", "ce", "pair40", 0)
  assert (cell.model.name, cell.data.batch_size, cell.noise.type) == ("mlp", 256, "pair")
  with pytest.raises(ConfigError, match="'sym20' and 'sym40'"):
    protocols.suite_config("digits", "ce", "sym20,sym40", 0)


def test_benchmarks_reuse_a_finished_cell_only_under_its_own_config(tmp_path):
  """A cell's finished run is reused when it was made under the same config; one made under
  another (here 10 epochs against 30) is an error naming the key, not another run's result."""
  sys.path.insert(0, os.path.join(REPO, "experiments"))
  import protocols

  from nlx import io
  from nlx import workdir as workdir_lib
  config = protocols.suite_config("digits", "ce", "sym40", 0)
  workdir = str(tmp_path)
  assert protocols.finished_results(workdir, config) is None  # nothing run yet
  workdir_lib.write_record(workdir, config, None, step=1)
  io.write_json(os.path.join(workdir, "results.json"), {"wall_time_s": 3.0})
  assert protocols.finished_results(workdir, config) == {"wall_time_s": 3.0}
  shorter = protocols.suite_config("digits", "ce", "sym40", 0, epochs=10)
  with pytest.raises(ConfigError, match=r"train.num_epochs: 30 -> 10"):
    protocols.finished_results(workdir, shorter)
  longer = protocols.suite_config("digits", "ce", "sym40", 0, epochs=40)
  longer.train.allow_more_epochs = True  # lets a *resume* extend; a finished run stays 30
  with pytest.raises(ConfigError, match="finished run of fewer epochs"):
    protocols.finished_results(workdir, longer)


def test_arnet_ablation_chooses_only_among_rows_run_on_every_seed():
  """A reading screened on one seed shows its seed and is never the validation choice, even
  with the best validation score: a one-seed mean is not comparable with a 3-seed one."""
  sys.path.insert(0, os.path.join(REPO, "experiments"))
  import arnet_ablation

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
  sys.path.insert(0, os.path.join(REPO, "experiments"))
  import arnet_ablation
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


def test_label_issue_cells_are_reused_only_under_their_own_config(tmp_path):
  """A cleanlab cell's stored scores are reused only when scored on the same data and noise;
  one scored under another config is an error naming the key."""
  import argparse
  sys.path.insert(0, os.path.join(REPO, "experiments"))
  import label_issues_benchmark as lib

  from nlx import io
  from nlx import workdir as workdir_lib
  a = argparse.Namespace(workroot=str(tmp_path), data_dir="", reuse_only=True)
  path = os.path.join(str(tmp_path), "label_issues", "digits", "sym40", "seed0",
                      "cleanlab_logreg.json")
  os.makedirs(os.path.dirname(path))
  keys = workdir_lib.fingerprint_keys(lib.cell_config("digits", "sym40", 0, ""))
  io.write_json(path, {"auroc": 0.9, "config_keys": keys})
  assert lib.run_cell("digits", "sym40", 0, "cleanlab_logreg", a)["auroc"] == 0.9
  io.write_json(path, {"auroc": 0.9, "config_keys": {**keys, "noise.rate": 0.2}})
  with pytest.raises(ConfigError, match=r"noise.rate: 0.2 -> 0.4"):
    lib.run_cell("digits", "sym40", 0, "cleanlab_logreg", a)
