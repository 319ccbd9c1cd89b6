"""The socket hub, the call consumer and the HTTP handler lean on no private
name of channels, channels-redis or Django (an upgrade may change those
silently): no `_name` imported from a library or read off a library module,
and no `self._name` that a library base class of ours uses itself."""

import ast
import importlib
import inspect
import re

import pytest

OWN_PACKAGES = ("invitations", "callsite", "tests")
MODULES = ["invitations.realtime.hub", "invitations.realtime.consumer", "callsite.asgi_http", "callsite.asgi"]
PRIVATE = re.compile(r"^_[A-Za-z]\w*$")  # _name, not __dunder__


def is_own(module_name: str) -> bool:
    return module_name.split(".")[0] in OWN_PACKAGES


def library_privates(cls: type) -> set[str]:
    """The private names the library classes cls extends define or use."""
    names: set[str] = set()
    for base in cls.__mro__[1:]:
        if is_own(base.__module__) or base.__module__ == "builtins":
            continue
        names |= set(re.findall(r"\b_[A-Za-z]\w*\b", inspect.getsource(base)))
    return names


def private_uses(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    tree = ast.parse(inspect.getsource(module))
    library_modules = {
        alias.asname or alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if not is_own(alias.name)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and not is_own(node.module or ""):
            found += [f"from {node.module} import {a.name}" for a in node.names if PRIVATE.match(a.name)]
        elif (
            isinstance(node, ast.Attribute)
            and PRIVATE.match(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in library_modules
        ):
            found.append(f"{node.value.id}.{node.attr}")
        elif isinstance(node, ast.ClassDef):
            cls = getattr(module, node.name)
            theirs = library_privates(cls)
            found += [
                f"{node.name}: self.{sub.attr}"
                for sub in ast.walk(node)
                if isinstance(sub, ast.Attribute)
                and isinstance(sub.value, ast.Name)
                and sub.value.id == "self"
                and sub.attr in theirs
            ]
    return sorted(set(found))


@pytest.mark.parametrize("module_name", MODULES)
def test_no_private_names_of_the_libraries(module_name):
    assert private_uses(module_name) == []
