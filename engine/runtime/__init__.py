"""The only code that runs durable-rules: the compiler (IR to rulesets) and the session that evaluates them."""
