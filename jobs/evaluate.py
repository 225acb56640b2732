"""spark-submit entry for the offline evaluation (time split, retrain on the past, metrics vs baselines, report).

    spark-submit --packages io.delta:delta-spark_4.1_2.13:4.4.0 \
        --py-files dist/crosssell_spark.zip jobs/evaluate.py --conf conf/cluster.yaml
"""

import sys

from crosssell_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
