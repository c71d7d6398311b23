"""The expert tools over the library: check, scenarios, lint, diff, sweep, diagrams, listings, a tool's config
written (emit) and read back, isolation of untrusted rules."""
