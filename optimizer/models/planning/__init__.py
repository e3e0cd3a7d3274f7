"""The planning model: every facility type at once, shared sites, capacities, budgets and phasing;
its Lagrangian decomposition over the budget rows; and the solve strategy above both."""
