"""spark-submit entry for forgetting users (deletes their rows from every user-level table, logs by pseudonym).

    spark-submit --packages io.delta:delta-spark_4.1_2.13:4.4.0 \
        --py-files dist/crosssell_spark.zip jobs/forget.py --conf conf/cluster.yaml --users-file forget.txt
"""

import sys

from crosssell_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["forget", *sys.argv[1:]]))
