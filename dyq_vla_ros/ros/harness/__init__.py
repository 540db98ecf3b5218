"""Harnesses around the product nodes: a synthetic robot, the load test, the closed-loop demo, child processes.

Not product nodes: they drive and observe dyq_vla_node for tests, benchmarks and `dyq-vla demo`.
"""
