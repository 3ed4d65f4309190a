"""Targets by name: what a person types (`--target`, a sweep, a batch file) to the target it means,
and a backend's targets whatever kind of backend it is."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from tui import validate as V
from tui.engine.protocol import LOCAL, Target, short_model_name


class TargetError(ValueError):
    """A name that matches no target, or more than one."""


def names_of(target: Target) -> set[str]:
    """Every name a person may call a target by: its label, its adapter's name, 'base' for a model
    without adapter, and the model's id and short name."""
    names = {target.label}
    if target.adapter is not None:
        names.add(target.adapter)
    else:
        names |= {target.model, short_model_name(target.model)}
        if target.is_local:
            names.add("base")
    return names


def resolve(spec: str, known: list[Target]) -> Target:
    """The one target `spec` names; TargetError saying why not (with the known labels)."""
    spec = spec.strip()
    exact = [t for t in known if t.label == spec]
    found = exact or [t for t in known if spec in names_of(t)]
    if len(found) == 1:
        return found[0]
    labels = ", ".join(t.label for t in known) or "none"
    if not found:
        raise TargetError(f"unknown target {spec!r} (known: {labels})")
    raise TargetError(f"{spec!r} names {len(found)} targets ({', '.join(t.label for t in found)}): "
                      "give the whole label")


async def resolve_names(backend: Any, names: list[Target | str]) -> list[Target]:
    """Names resolved to targets; a name no target has yet may be a server's model, so the servers
    are reached first (without loading the engine). TargetError for a name that is no target."""
    if any(isinstance(name, str) for name in names):
        from tui.engine.fleet import Fleet
        from tui.engine.protocol import BackendError, EngineState

        others = backend.connect_others() if isinstance(backend, Fleet) else []
        primary = backend.primary if isinstance(backend, Fleet) else backend
        if primary.source != LOCAL and primary.state is not EngineState.READY:
            try:  # a server first (not the engine: it is not loaded for this)
                await primary.start()
            except BackendError as exc:
                raise TargetError(f"cannot list the server's models: {exc}") from None
        await asyncio.gather(*others)
    known = backend.targets()
    return [resolve(name, known) if isinstance(name, str) else name for name in names]


def same(a: Target | None, b: Target | None) -> bool:
    return (a is None) == (b is None) and (a is None or a.key == b.key)


def canonical(target: Target, known: list[Target]) -> Target:
    """The known target that is `target`, or `target` itself (on the engine's model as loaded now,
    when it is the engine's: an adapter removed since keeps its name)."""
    found = next((t for t in known if t.key == target.key), None)
    if found is not None:
        return found
    engine = next((t for t in known if t.is_local), None)
    return replace(target, model=engine.model) if target.is_local and engine is not None else target


def target_from_record(value: Any, name: str) -> Target | None:
    """A target as files keep it ({"server", "model", "adapter"}), every field checked."""
    if value is None:
        return None
    table = V.table(value, name)
    V.known_keys(table, name, ("server", "model", "adapter"))
    server = V.optional_string(table.get("server"), f"{name}.server")
    model = V.string(table.get("model"), f"{name}.model")
    adapter = V.optional_string(table.get("adapter"), f"{name}.adapter")
    return Target(server or LOCAL, model, adapter)
