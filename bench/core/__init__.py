"""The lowest layer: the array contract, registries and specs, statistics, files, the machine."""
