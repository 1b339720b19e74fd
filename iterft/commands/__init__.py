"""The `iterft` subcommands, one module per group; each module's `register` adds its parsers, and each
command imports what it uses when it runs (iterft/cli.py assembles them)."""
