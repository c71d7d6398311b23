"""What the user gives: constraints checked against the fact schema, profiles, a model's Hugging Face
config.json."""
