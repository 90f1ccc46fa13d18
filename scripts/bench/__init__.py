"""Helpers of scripts/run_bench.py, the side-by-side benchmark of MLflow-protocol tracking servers.

- ``client``    — the REST client (one keep-alive ``requests.Session`` per thread), timing, checks
- ``servers``   — starting and stopping the servers under test, process-tree RSS, PostgreSQL db
- ``workloads`` — W1…W7 and the untimed seeding they need
- ``report``    — metric definitions, medians, ratios, the printed table
- ``profile``   — py-spy around each timed workload (``--py-spy DIR``) and a summary of its stacks

``python scripts/run_bench.py`` puts ``scripts/`` first on ``sys.path``, so ``import bench.client``
finds this package; the tests import it as ``scripts.bench``.
"""
