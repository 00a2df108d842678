"""The layers of the project: partners → licensing → ipp → config, nothing pointing back,
and no modules importing each other in a circle (the contracts in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_app_imports_upward_and_no_modules_import_each_other_in_a_circle():
    # An import of licensing from partners, or a circle such as nightly ↔ tasks, breaks a
    # contract: this fails, naming the import, as `make lint` does. In a process of its
    # own: import-linter configures logging and would silence this process's loggers.
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(  # noqa: S603 - a fixed command
        [str(lint_imports), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout
