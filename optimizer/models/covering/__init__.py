"""The covering family: set covering (LSCP), maximal covering (MCLP) and backup coverage, with
their reductions, heuristics, compiled local searches and the solve strategies built on them."""
