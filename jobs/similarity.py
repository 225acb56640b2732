"""spark-submit entry for the similarity stage (items_clean, events_clean -> item_similarity, category_affinity).

    spark-submit --packages io.delta:delta-spark_4.1_2.13:4.4.0 \
        --py-files dist/crosssell_spark-0.1.0.zip jobs/similarity.py --conf conf/cluster.yaml --run-date 2026-11-28
"""

import sys

from crosssell_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["similarity", *sys.argv[1:]]))
