"""The recommendation as data, its provenance graph, why-not answers and readable citations."""
