"""Ships the rule base with the package: a wheel (`pip install .`) carries rules/ and facts/ inside it as
engine/data/rules and engine/data/facts, which the loader finds when there is no checkout around it
(engine/language/loader.py PROJECT_ROOT). An editable install reads the checkout's own folders instead."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = ("rules", "facts")


class BuildWithRules(build_py):
    """build_py that also copies the YAML rule base into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        data = Path(self.build_lib) / "engine" / "data"
        for name in SHIPPED:
            target = data / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(HERE / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithRules})
