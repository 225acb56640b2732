"""spark-submit entry for weekly maintenance: OPTIMIZE + VACUUM of every published table (retention >= 7 days).

    spark-submit --packages io.delta:delta-spark_4.1_2.13:4.4.0 \
        --py-files dist/crosssell_spark-0.1.0.zip jobs/maintain.py --conf conf/cluster.yaml

The full line (Delta confs, packed env, config files) is in dist/submit.sh and the README.
"""

import sys

from crosssell_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["maintain", *sys.argv[1:]]))
