"""Infrastructure: one construct per concern, composed by `iterft_stack.IterftStack`."""
