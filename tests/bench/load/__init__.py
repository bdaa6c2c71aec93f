"""The soak (issue W8, load): a warehouse day against the production stack.

    python -m tests.bench.load [--minutes 10] [--handhelds 300] [--stations 20] …
    make soak                          (SOAK_MINUTES=N for another length)

soak.py runs it, seed.py builds the warehouse, stack.py starts `wavepack serve-prod` and
measures its processes, drive.py is the load (gevent clients), report.py prints the
tables. tests/integration/test_soak.py runs a short version for correctness.
"""
