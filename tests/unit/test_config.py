"""Config loading: overlays merge, errors name the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosssell_spark.config import ConfigError, load_config
from tests.conftest import BASE_CONF, PROJECT_ROOT


def test_base_and_local_overlay_merge():
    config = load_config([PROJECT_ROOT / "conf" / "local.yaml"], base=BASE_CONF)
    assert config.spark.master == "local[*]"  # from local.yaml
    assert config.spark.app_name == "crosssell-spark"  # from base.yaml
    assert config.cleaning.event_type_aliases["cart"][0] == "cart"


def test_cluster_example_is_valid():
    config = load_config([PROJECT_ROOT / "conf" / "cluster.example.yaml"], base=BASE_CONF)
    assert config.input.source == "files" and config.lakehouse.database == "crosssell"


def test_unknown_key_names_file_and_key(tmp_path: Path):
    overlay = tmp_path / "mine.yaml"
    overlay.write_text("cleaning:\n  bot_max_events_per_dya: 10\n")
    with pytest.raises(ConfigError, match=r"mine\.yaml: cleaning\.bot_max_events_per_dya: unknown key"):
        load_config([overlay], base=BASE_CONF)


def test_bad_value_names_file_key_and_value(tmp_path: Path):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("spark:\n  shuffle_partitions: -4\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: spark\.shuffle_partitions: .*greater than 0.*-4"):
        load_config([overlay], base=BASE_CONF)


def test_override_error_names_the_override():
    with pytest.raises(ConfigError, match=r"--set input\.source=oracle: input\.source"):
        load_config(overrides=["input.source=oracle"], base=BASE_CONF)


def test_cross_field_rule_named(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"input\.path is required for input\.source=instacart"):
        load_config(overrides=["input.source=instacart"], base=BASE_CONF)


def test_missing_file_and_bad_yaml_are_clear(tmp_path: Path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config([tmp_path / "absent.yaml"], base=BASE_CONF)
    broken = tmp_path / "broken.yaml"
    broken.write_text("spark: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load_config([broken], base=BASE_CONF)


def test_environment_variables_expand(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LAKE", "/data/lake")
    assert load_config(overrides=["lakehouse.root=${LAKE}/x"], base=BASE_CONF).lakehouse.root == "/data/lake/x"


def test_an_unset_environment_variable_is_an_error_naming_file_and_key(monkeypatch, tmp_path):
    monkeypatch.delenv("CROSSSELL_TEST_UNSET", raising=False)
    overlay = tmp_path / "my.yaml"
    overlay.write_text("input:\n  events:\n    path: ${CROSSSELL_TEST_UNSET}/clicks\n")
    with pytest.raises(ConfigError, match=r"my\.yaml: input\.events\.path: environment variable CROSSSELL_TEST_UNSET"):
        load_config([overlay], base=BASE_CONF)
    overlay.write_text("input:\n  events:\n    path: ${CROSSSELL_TEST_UNSET:-/data}/clicks\n")
    assert load_config([overlay], base=BASE_CONF).input.events.path == "/data/clicks"
    monkeypatch.setenv("CROSSSELL_TEST_UNSET", "/mnt")
    assert load_config([overlay], base=BASE_CONF).input.events.path == "/mnt/clicks"


def test_a_cross_field_error_names_the_file_that_set_each_key(tmp_path):
    overlay = tmp_path / "shop.yaml"
    overlay.write_text("input:\n  source: instacart\n")
    with pytest.raises(ConfigError) as raised:
        load_config([overlay], base=BASE_CONF)
    assert str(raised.value).splitlines()[1].strip() == (
        f"{BASE_CONF} (input.path), {overlay} (input.source): input: "
        "Value error, input.path is required for input.source=instacart"
    )
