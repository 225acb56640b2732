"""spark-submit entry for the whole pipeline, stage by stage, with a summary at the end.

    spark-submit --packages io.delta:delta-spark_4.1_2.13:4.4.0 \
        --py-files dist/crosssell_spark-0.1.0.zip jobs/run_all.py --conf conf/cluster.yaml
"""

import sys

from crosssell_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["run-all", *sys.argv[1:]]))
