"""spark-submit entry for the user-interest stage (events_clean, items_clean -> ALS factors, user_category_interest).

    spark-submit --packages io.delta:delta-spark_4.1_2.13:4.4.0 \
        --py-files dist/crosssell_spark-0.1.0.zip jobs/train_interest.py --conf conf/cluster.yaml --run-date 2026-11-28

Add `--tune` to grid-search rank / regParam / alpha on a time split first (crosssell tune-interest).
"""

import sys

from crosssell_spark.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    command = "tune-interest" if "--tune" in args else "train-interest"
    sys.exit(main([command, *[a for a in args if a != "--tune"]]))
