"""The cloud-edge testbed on kind: real tasks, shaped links, measured completion times.

Every placement-quality number elsewhere is the model grading itself; here the pods run. The
task program (:mod:`bench.testbed.task`) and the data server (:mod:`bench.testbed.dataserver`)
are stdlib-only so that their image needs nothing but python3; the runner
(:mod:`bench.testbed.runner`, ``make testbed``) sets the cluster up, runs the scenarios under
each scheduler and writes docs/testbed.md and docs/testbed.json.
"""
