"""The study's network ablations as rerunnable experiments.

- :mod:`bench.experiments.ablate.discriminator`: Table 3, ``iizuka`` vs ``iizuka-global`` vs
  ``iizuka-local`` on the same images and masks, repeated over mask seeds.
- :mod:`bench.experiments.ablate.channels`: Table 4, zero one output channel of a conv layer at a
  time (registry spec ``iizuka:drop=convL.C``) and re-measure FID and per-image
  metrics; also the identity-layer experiment (``iizuka:identity=convL``).
"""
