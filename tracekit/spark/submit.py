"""``spark-submit`` entry point: the ``tracekit spark-analyze`` command under spark-submit.

    spark-submit --master yarn --deploy-mode client \\
        $(python -c 'import tracekit.spark.submit as m; print(m.__file__)') \\
        hdfs://nn/traces/prod --out /mnt/shared/results/prod

Arguments are those of ``tracekit spark-analyze`` without ``--master`` (spark-submit's own
options set the master and the Spark settings, which the session picks up).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from tracekit.cli import main

    main(["spark-analyze", *sys.argv[1:]])
