"""`python/lrat/_core.pyi` describes the compiled `lrat._core`: the same public names, and for each class
the same public methods and properties."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import lrat
from lrat import _core

STUB = Path(lrat.__file__).with_name("_core.pyi")
# A third-party class (arro3's Table, registered by pyo3-arrow): the stub types only what lrat's users
# rely on, so its names need only exist on the class, not cover it.
PARTIAL_CLASSES = {"Table"}


def _stub() -> ast.Module:
    return ast.parse(STUB.read_text(encoding="utf-8"), filename=str(STUB))


def _stub_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return {n for n in names if not n.startswith("_") or n == "__version__"}


def _stub_classes(tree: ast.Module) -> dict[str, set[str]]:
    out = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            members = set()
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    members.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    members.add(item.target.id)
            out[node.name] = members
    return out


def _public(name: str) -> bool:
    return not name.startswith("_") or name == "__version__"


def _runtime_members(cls: type) -> set[str]:
    """Methods and properties the class itself defines, plus the dunders a user calls."""
    own = set(vars(cls))
    dunders = {"__new__", "__iter__", "__next__", "__len__", "__contains__", "__arrow_c_stream__", "__arrow_c_schema__"}
    members = {n for n in own if not n.startswith("_")} | (own & dunders)
    if "__new__" in members and cls.__new__ is object.__new__:
        members.discard("__new__")
    return members


def test_stub_parses_and_py_typed_is_shipped() -> None:
    _stub()
    assert STUB.with_name("py.typed").exists()


def test_stub_names_match_the_module() -> None:
    runtime = {n for n in dir(_core) if _public(n)} - {
        "__doc__",
        "__file__",
        "__loader__",
        "__name__",
        "__package__",
        "__spec__",
        "__all__",
    }
    stub = _stub_names(_stub())
    assert runtime - stub == set(), "names in lrat._core missing from the stub"
    assert stub - runtime == set(), "names in the stub that lrat._core lacks"


def test_stub_classes_match_the_module() -> None:
    for name, stub_members in _stub_classes(_stub()).items():
        if name.startswith("_"):
            continue  # typing helpers of the stub only (TypedDicts)
        cls = getattr(_core, name)
        assert inspect.isclass(cls), name
        if issubclass(cls, BaseException):
            continue  # attributes of exceptions are set per instance; checked by the reader's tests
        runtime_members = _runtime_members(cls)
        missing = {m for m in stub_members if m != "__getattr__" and not hasattr(cls, m)}
        assert missing == set(), f"{name}: the stub names members the class lacks"
        if name in PARTIAL_CLASSES:
            continue
        assert runtime_members - stub_members == set(), f"{name}: members missing from the stub"
        assert stub_members - runtime_members == set(), f"{name}: stub members the class does not define"


def test_stub_signatures_match_keyword_arguments() -> None:
    """The reader's keyword arguments and defaults in the stub are the compiled ones."""
    tree = _stub()
    reader = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "TrajectoryReader")
    new = next(n for n in reader.body if isinstance(n, ast.FunctionDef) and n.name == "__new__")
    stub_kw = {a.arg: ast.literal_eval(d) for a, d in zip(new.args.kwonlyargs, new.args.kw_defaults)}
    runtime = inspect.signature(_core.TrajectoryReader)
    runtime_kw = {p.name: p.default for p in runtime.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert stub_kw == runtime_kw


def test_exceptions_hierarchy_matches() -> None:
    assert issubclass(_core.TrajectoryParseError, _core.LratError)
    assert issubclass(_core.LratError, Exception)
    tree = _stub()
    bases = {n.name: [ast.unparse(b) for b in n.bases] for n in tree.body if isinstance(n, ast.ClassDef)}
    assert bases["LratError"] == ["Exception"]
    assert bases["TrajectoryParseError"] == ["LratError"]
