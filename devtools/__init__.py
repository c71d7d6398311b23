"""Developer-only code, not part of the installed package: fitting the memory model's constants
(``python -m devtools.calibration``) and the reference planner the tests and the benchmark compare with."""
