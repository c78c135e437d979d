"""scripts/check_imports.py: the import-graph check CI runs on src/."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_imports", ROOT / "scripts" / "check_imports.py")
check_imports = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_imports)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_finds_a_lazy_cycle_and_a_forbidden_import(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "vocabfree/__init__.py": "",
            "vocabfree/models/__init__.py": "",
            "vocabfree/models/a.py": "def f():\n    from vocabfree.models import b\n",
            "vocabfree/models/b.py": "from vocabfree.models.a import f\nfrom vocabfree.classify import steps\n",
            "vocabfree/classify/__init__.py": "",
            "vocabfree/classify/steps.py": "from . import __init__\n",
        },
    )
    found = check_imports.problems(root)
    assert any(line.startswith("vocabfree.models.b imports vocabfree.classify") for line in found)
    cycles = [line for line in found if line.startswith("import cycle:")]
    assert cycles in (
        ["import cycle: vocabfree.models.a -> vocabfree.models.b -> vocabfree.models.a"],
        ["import cycle: vocabfree.models.b -> vocabfree.models.a -> vocabfree.models.b"],
    )


def test_parent_package_imports_are_not_cycles(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "vocabfree/__init__.py": "",
            "vocabfree/serve/__init__.py": "from vocabfree.serve.app import create_app\n",
            "vocabfree/serve/app.py": "from vocabfree.serve.errors import E\n",
            "vocabfree/serve/errors.py": "E = 1\n",
        },
    )
    assert check_imports.problems(root) == []
