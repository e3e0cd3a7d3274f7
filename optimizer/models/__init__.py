"""Location models, one module per family. Each builds a :class:`~optimizer.milp.MILP` from
arrays in whole-matrix operations and decodes a solver's ``x`` back into a solution."""
