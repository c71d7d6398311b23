"""The rule language: YAML read with locations, JSON Schemas, the IR, operators and the one Python evaluator of
conditions, the loader (shape and meaning checks), the decision registry, the rule cache."""
