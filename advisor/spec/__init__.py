"""What the user wrote: task and registry files, their schema, data and model sources, settings, and the
registries of task types, kinds and runtimes."""
