"""Which job next: the plan, the adaptive search's rules, the run that measures and judges, and the result store's cache."""
