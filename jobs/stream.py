"""spark-submit entry for the streaming refresh (landing files or Kafka -> events_clean, user lists).

    spark-submit --packages io.delta:delta-spark_4.1_2.13:4.4.0 \
        --py-files dist/crosssell_spark.zip jobs/stream.py --conf conf/cluster.yaml
    # Kafka source: add org.apache.spark:spark-sql-kafka-0-10_2.13:4.1.1 to --packages
    # Catch-up run that stops when done: append --available-now
"""

import sys

from crosssell_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["stream", *sys.argv[1:]]))
