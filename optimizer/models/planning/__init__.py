"""The planning model: every facility type at once, shared sites, capacities, budgets and phasing.

``model`` holds the data types, the model's rows, the objective vectors and decode/encode;
``decomposition`` its Lagrangian decomposition over the budget rows (it imports ``model``);
``solve`` the lexicographic phases and the re-assignment on one deadline (it imports both).
"""
