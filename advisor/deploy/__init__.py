"""Deploy what was measured: export a run's model as a checked package (:mod:`~advisor.deploy.build`), load one
(:mod:`~advisor.deploy.predictor`, ``advisor.load``), its model card and its MLflow flavour."""
