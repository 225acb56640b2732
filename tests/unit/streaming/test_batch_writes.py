"""A micro-batch's writes after the lists: two chains side by side, each in its own order, every
chain run to its end before an error is raised."""

from __future__ import annotations

import threading
import time

import pytest

from crosssell_spark.streaming.batch import run_side_by_side


def test_chains_run_side_by_side_and_each_keeps_its_order():
    order: list[str] = []
    both_started = threading.Barrier(2, timeout=5)  # fails unless the chains really run at once

    def write(name: str, meet: bool = False):
        def run() -> None:
            if meet:
                both_started.wait()
            order.append(name)

        return run

    done = run_side_by_side(
        [
            [("reconciliation", write("reconciliation", meet=True)), ("events_clean", write("events_clean"))],
            [("user_id_map", write("user_id_map", meet=True)), ("user_factors", write("user_factors"))],
        ]
    )
    assert order.index("reconciliation") < order.index("events_clean")
    assert order.index("user_id_map") < order.index("user_factors")
    assert set(done) == {"reconciliation", "events_clean", "user_id_map", "user_factors"}
    seconds, finished = done["events_clean"]
    assert seconds >= 0 and finished <= time.time()


def test_a_failing_chain_stops_itself_not_the_other_and_the_error_is_raised():
    written: list[str] = []

    def fail() -> None:
        raise RuntimeError("commit refused")

    def slow() -> None:
        time.sleep(0.2)  # still running when the other chain fails
        written.append("user_factors")

    chains = [
        [("reconciliation", fail), ("events_clean", lambda: written.append("events_clean"))],
        [("user_factors", slow), ("user_category_interest", lambda: written.append("user_category_interest"))],
    ]
    with pytest.raises(RuntimeError, match="commit refused"):
        run_side_by_side(chains)
    assert written == ["user_factors", "user_category_interest"]  # the failed chain wrote nothing after it


def test_empty_chains_are_skipped():
    assert run_side_by_side([[], [("reconciliation", lambda: None)]]).keys() == {"reconciliation"}
