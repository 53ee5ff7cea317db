"""Each ``.pxd`` declares exactly the attributes its class sets.

A compiled class (quorumkv/accel.py) is an extension type: its attributes are the
struct fields its ``.pxd`` declares. An attribute the class sets but the ``.pxd``
lacks fails only in the compiled build (AttributeError at run time), and one the
``.pxd`` declares but no code sets is a stale field. Both are caught here, in the
plain build too, by reading the sources.
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

import quorumkv

PACKAGE = pathlib.Path(quorumkv.__file__).parent
PXD_FILES = sorted(PACKAGE.rglob("*.pxd"))
CLASS_LINE = re.compile(r"^cdef class (\w+)")
FIELDS_LINE = re.compile(r"^\s+cdef (?:public |readonly )?object (.+)$")


def declared_fields(pxd: pathlib.Path) -> dict[str, set[str]]:
    """class name -> the attribute names its ``cdef class`` block declares."""
    classes: dict[str, set[str]] = {}
    current = None
    for line in pxd.read_text().splitlines():
        if match := CLASS_LINE.match(line):
            current = classes.setdefault(match.group(1), set())
        elif current is not None and (match := FIELDS_LINE.match(line)):
            current.update(name.strip() for name in match.group(1).split(","))
    return classes


def assigned_attributes(scope: ast.AST, owner: str | None = "self") -> set[str]:
    """Names ``X`` of every ``self.X = ...`` (also augmented, annotated and tuple
    targets) in the methods of class ``scope``; with ``owner`` None, of every
    ``name.X = ...`` anywhere in ``scope`` (a module setting its objects' fields)."""
    names: set[str] = set()

    def targets(node):
        if isinstance(node, ast.Assign):
            return node.targets
        if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            return [node.target]
        return []

    def collect(target) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                collect(element)
        elif (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
              and (owner is None or target.value.id == owner)):
            names.add(target.attr)

    bodies = ([m for m in scope.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]
              if owner is not None else [scope])
    for body in bodies:
        for node in ast.walk(body):
            for target in targets(node):
                collect(target)
    return names


def test_every_compiled_module_with_classes_has_its_pxd_checked():
    assert PXD_FILES, "no .pxd files found: is the package layout different?"


@pytest.mark.parametrize("pxd", PXD_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pxd_declares_exactly_what_the_class_sets(pxd):
    source = pxd.with_suffix(".py")
    assert source.exists(), f"{pxd.name} has no module beside it"
    tree = ast.parse(source.read_text())
    classes = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    for name, declared in declared_fields(pxd).items():
        assert name in classes, f"{pxd.name} declares class {name}, which {source.name} lacks"
        assigned = assigned_attributes(classes[name])
        missing = assigned - declared
        # a field may be set by the module's functions on the object (run.replies = ...)
        stale = declared - assigned - assigned_attributes(tree, owner=None)
        assert not missing, f"{name} sets {sorted(missing)} but {pxd.name} does not declare them"
        assert not stale, f"{pxd.name} declares {sorted(stale)} that {name} never sets"
