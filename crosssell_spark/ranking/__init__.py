"""The learnt ranker: training data from a time split of the run's own events, the fit and its guard."""
