"""The `streaming:` config section: defaults, the Kafka source's required keys."""

from __future__ import annotations

import pytest

from crosssell_spark.config import ConfigError, load_config
from crosssell_spark.streaming.source import checkpoint_location, landing_dir
from tests.conftest import BASE_CONF


def test_landing_and_checkpoint_default_under_the_lakehouse(tmp_path):
    config = load_config(base=BASE_CONF, overrides=[f"lakehouse.root={tmp_path}"])
    assert landing_dir(config) == f"{tmp_path}/_landing/stream"
    assert checkpoint_location(config) == f"{tmp_path}/_checkpoints/stream"
    assert config.streaming.trigger == "processingTime" and config.streaming.max_files_per_trigger >= 1


def test_a_kafka_source_needs_servers_and_a_topic():
    with pytest.raises(ConfigError, match=r"streaming\.kafka\.bootstrap_servers"):
        load_config(base=BASE_CONF, overrides=["streaming.source=kafka"])
    config = load_config(
        base=BASE_CONF,
        overrides=[
            "streaming.source=kafka",
            "streaming.kafka.bootstrap_servers=k:9092",
            "streaming.kafka.topic=clicks",
        ],
    )
    assert config.streaming.kafka.topic == "clicks"


def test_an_unknown_trigger_is_rejected_with_its_key():
    with pytest.raises(ConfigError, match=r"streaming\.trigger"):
        load_config(base=BASE_CONF, overrides=["streaming.trigger=once"])
