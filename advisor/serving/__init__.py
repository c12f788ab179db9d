"""How to serve the recommended model: the serving sweep (a job like a measurement), the choice over its points and its words."""
