"""The sample world's user-task ceiling (bench/user_task_ceiling.py): hidden preferences carry the signal."""

from bench.user_task_ceiling import ceiling


def test_only_the_hidden_preferences_lift_the_user_task_far_above_popularity() -> None:
    figures = ceiling(events=20_000, seed=7, scale=10, last_days=10, max_queries=2_000)

    assert figures["queries"] > 200
    assert figures["oracle"] > 2.5 * figures["popularity"]
    assert figures["oracle_without_preferences"] < 0.5 * figures["oracle"]
