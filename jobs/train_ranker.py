"""spark-submit entry for the train-ranker stage (events_clean, item_similarity, id maps -> ranker_runs).

    spark-submit --packages io.delta:delta-spark_4.1_2.13:4.4.0 \
        --py-files dist/crosssell_spark-0.1.0.zip jobs/train_ranker.py --conf conf/cluster.yaml --run-date 2026-11-28
"""

import sys

from crosssell_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["train-ranker", *sys.argv[1:]]))
