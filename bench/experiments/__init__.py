"""Experiments built on the engine: a run, the ablations, the learning curve, exports."""
