"""The pure core: statistics, metrics, assessment, ranking, impact and the typed results. Data in, data out: no I/O, no models."""
