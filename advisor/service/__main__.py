"""``python -m advisor.service DATA_DIR JOB_ID SERVER_JSON [SERVER_PID]``: the worker process of one job."""

import sys

from advisor.service.jobs import worker_main

worker_main(sys.argv)
