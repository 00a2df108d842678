"""The layers of the project: partners → licensing → ipp → config, nothing pointing back,
and no modules importing each other in a circle (the contracts in pyproject.toml)."""

from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent


def test_no_app_imports_upward_and_no_modules_import_each_other_in_a_circle(monkeypatch):
    # An import of licensing from partners, or a circle such as nightly ↔ tasks, breaks a
    # contract: this fails, naming the import, as `make lint` does.
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0
