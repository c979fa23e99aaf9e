"""The simulator: users built from real data browse recommendation pages, watch, rate and leave.

Entry points: ``agentrec.sim.scenario.load_scenario`` reads a TOML scenario and
``agentrec.sim.run.run_simulation`` runs (or resumes) it, writing every event to
DuckDB as it happens. Only the CLI imports this package.
"""
