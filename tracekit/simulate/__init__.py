"""The workshop simulator: a SimPy model of the jewellery order pipeline emitting spans with
ground truth. See docs/simulator.md.

>>> from tracekit.simulate import simulate
>>> result = simulate("baseline", duration_s=3600, seed=7, start="2026-01-05T18:00:00Z")
>>> result.truth["bottleneck"]  # doctest: +SKIP
'mes'
"""

from tracekit.simulate.load_scenario import builtin_scenarios, load_scenario, parse_duration
from tracekit.simulate.scenario import Scenario
from tracekit.simulate.simulation import SimulationResult, simulate

__all__ = [
    "Scenario",
    "SimulationResult",
    "builtin_scenarios",
    "load_scenario",
    "parse_duration",
    "simulate",
]
