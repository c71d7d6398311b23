"""From advice to a run: the chosen plan as the chosen tool's own config file, plus the DeepSpeed or
accelerate file a multi-GPU plan needs and a RUN.md (install line, command, what to expect).

Which key each plan value fills is data (rules/catalog/tool-configs.yaml: one record per key, with the
tool's documented key list beside it); this module only builds the plan's values and writes the records
out. Values the plan does not decide come from that catalog's `defaults` entry; what the user must give
(the dataset, the output folder) is written as ``FILL-IN: ...``, never invented."""

from engine.tools.emit.files import Emitted, emit
from engine.tools.emit.values import FILL_IN, STAGES, EmitError, documented_problems, plan_values, tool_entry

__all__ = ["FILL_IN", "STAGES", "EmitError", "Emitted", "documented_problems", "emit", "plan_values", "tool_entry"]
