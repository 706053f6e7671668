"""A griffe extension for the API pages: constructor signatures of equinox Modules.

equinox turns every `eqx.Module` into a dataclass at import time, so a Module without an
explicit `__init__` (e.g. `minimax.Simultaneous`) has no `__init__` in its source and griffe's
static analysis shows no signature for it. For each such class this extension imports the class,
reads the dataclass fields equinox created, and adds the matching `__init__` (annotations taken
from the source, so type aliases stay unexpanded).
"""

import dataclasses
from typing import Any

import griffe


class EquinoxInit(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._visit(pkg, set())

    def _visit(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        for member in list(obj.members.values()):
            if member.is_alias:
                continue
            if member.is_class:
                self._add_init(member)
            if member.is_module or member.is_class:
                self._visit(member, seen)

    def _add_init(self, cls: griffe.Class) -> None:
        if "__init__" in cls.members:
            return
        try:
            import equinox as eqx

            runtime = griffe.dynamic_import(cls.path)
        except Exception:
            return
        if not (isinstance(runtime, type) and issubclass(runtime, eqx.Module)):
            return
        if "__init__" in vars(runtime) and not dataclasses.is_dataclass(runtime):
            return
        fields = [f for f in dataclasses.fields(runtime) if f.init]
        if not fields:
            return
        parameters = [griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword)]
        for f in fields:
            source = cls.all_members.get(f.name)
            annotation = getattr(source, "annotation", None)
            if f.default is not dataclasses.MISSING:
                default = repr(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                default = f"{getattr(f.default_factory, '__name__', 'factory')}()"
            else:
                default = None
            kind = (
                griffe.ParameterKind.keyword_only
                if f.kw_only is True
                else griffe.ParameterKind.positional_or_keyword
            )
            parameters.append(
                griffe.Parameter(f.name, annotation=annotation, kind=kind, default=default)
            )
        init = griffe.Function(
            "__init__",
            lineno=0,
            endlineno=0,
            parent=cls,
            parameters=griffe.Parameters(*parameters),
            returns="None",
        )
        cls.set_member("__init__", init)
