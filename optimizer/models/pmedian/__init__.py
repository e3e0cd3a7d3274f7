"""The p-median family: the model (uncapacitated and capacitated), construction and swap
heuristics, the Lagrangian bound with reduced-cost fixing, Lagrangian branch-and-bound, and the
solve strategy that combines them to a certified gap."""
