"""Privacy helpers below the stages: keyed pseudonyms at ingestion, differential privacy on published
counts and its ledger rows (README "Privacy"). Forgetting a user is an ops job (`ops/forget.py`); the
accuracy cost of epsilon is measured beside the evaluation (`evaluation/epsilon_sweep.py`)."""
