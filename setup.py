"""Build hook: compile the message catalogues into the wheel (issue 16).

Everything else is in pyproject.toml.  The ``.po`` files are the sources kept in
the repository; ``resv.mo`` is built here (and by ``make catalogues`` for a
development checkout) with Babel, a build requirement.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class build_py_with_catalogues(build_py):  # noqa: N801 (setuptools' naming)
    def run(self) -> None:
        spec = importlib.util.spec_from_file_location(
            "resv_catalogues", HERE / "scripts" / "catalogues.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.compile_mo()
        super().run()


setup(cmdclass={"build_py": build_py_with_catalogues})
