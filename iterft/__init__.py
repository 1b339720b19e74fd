"""The operator side of iterft: the `iterft` CLI, the demo and the embedded default."""
