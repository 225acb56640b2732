"""Offline evaluation: time split, cross-category tasks, ranking metrics, baselines, report."""
