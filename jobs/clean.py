"""spark-submit entry for the cleaning stage (raw inputs -> events_clean, items_clean, ...).

    spark-submit --packages io.delta:delta-spark_4.1_2.13:4.4.0 \
        --py-files dist/crosssell_spark-0.1.0.zip jobs/clean.py --conf conf/cluster.yaml --run-date 2026-11-28
"""

import sys

from crosssell_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["clean", *sys.argv[1:]]))
