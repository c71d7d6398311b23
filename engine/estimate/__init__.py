"""Pure numbers: model shapes, peak training memory, GPU fit and training time."""
