"""The `tuneplan` command line: a thin parser and one module per sub-command over the library."""
