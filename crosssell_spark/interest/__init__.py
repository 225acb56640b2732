"""User interest: weighted interactions, stable id maps, implicit ALS, the user x category interest graph.

interactions.py      events -> one weighted row per (user, item): event weights, recency decay, cap
id_maps.py           stable integer ids for users and items, appended, never renumbered
als.py               the MLlib ALS estimator from config, training statistics, factor tables
cold_start.py        fallbacks: category centroids for items ALS never saw, popularity for thin users
category_interest.py users x categories x M scoring (no users x items cross join), shares, ranks
tuning.py            time-based split and a small grid scored by ranking metrics
model_store.py       saved models, their metadata and the LATEST pointer under <root>/_models/als
stage.py             read published tables -> stage -> audit -> publish
"""
