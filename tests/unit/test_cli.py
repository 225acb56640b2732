"""Exit codes of the command line: a crash is told apart from a refusal, a config or an input error."""

from __future__ import annotations

import logging

import pytest

from crosssell_spark import cli
from tests.conftest import TEST_OVERRIDES


def test_a_crash_is_exit_code_4_with_one_line_and_the_traceback_in_the_log(monkeypatch, tmp_path, capsys, caplog):
    def broken(command, config, run_date):
        raise RuntimeError("disk on fire\nand a second line")

    monkeypatch.setattr(cli, "_run_stages", broken)
    settings = [*TEST_OVERRIDES, f"lakehouse.root={tmp_path / 'lh'}"]
    capsys.readouterr()
    with caplog.at_level(logging.ERROR, logger="crosssell_spark"):
        code = cli.main(["clean", *[a for s in settings for a in ("--set", s)]])
    assert code == cli.EXIT_CRASH == 4
    assert code not in (cli.EXIT_STAGE_FAILED, cli.EXIT_CONFIG_ERROR, cli.EXIT_INPUT_ERROR)
    assert capsys.readouterr().err.strip().splitlines() == ["crosssell: clean crashed: RuntimeError: disk on fire"]
    crash = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert crash and crash[0].exc_info is not None  # the traceback goes to the log


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_is_not_reported_as_a_crash(monkeypatch, tmp_path, error):
    def interrupted(command, config, run_date):
        raise error()

    monkeypatch.setattr(cli, "_run_stages", interrupted)
    settings = [*TEST_OVERRIDES, f"lakehouse.root={tmp_path / 'lh'}"]
    with pytest.raises(error):
        cli.main(["clean", *[a for s in settings for a in ("--set", s)]])
