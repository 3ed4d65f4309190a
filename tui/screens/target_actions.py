"""The workbench's targets: which model, adapter or server each pane's requests go to; the picker,
a pane on every target, sweeps, and adapters loaded and removed while the engine runs."""

from __future__ import annotations

from textual.screen import Screen

from tui.core.pane_state import PaneState, comparison_start
from tui.engine.lora import parse_lora_spec
from tui.engine.protocol import EngineState, Target
from tui.screens.dialogs import AskScreen, TargetPicker
from tui.session import MAX_PANES
from tui.sweep import parse_sweep
from tui.targets import canonical, same
from tui.widgets.pane import Pane

SERVER_MARKS = {EngineState.READY: "●", EngineState.LOADING: "…", EngineState.ERROR: "✖",
                EngineState.STOPPED: "○"}


def servers_text(servers: list) -> str:
    """'gpu-box:8000 ● · 10.0.0.2:8000 ✖': each other server and whether it answers."""
    return " · ".join(f"{s.source} {SERVER_MARKS.get(s.state, '?')}" for s in servers)


class TargetActions(Screen):
    """What WorkbenchScreen does with targets (it keeps `_known` and `default_target`; the panes,
    settings bar and engine line are its own)."""

    _known: list[Target]
    default_target: Target | None

    @property
    def known_targets(self) -> list[Target]:
        return list(self._known)

    def target_of(self, pane: Pane) -> Target | None:
        """Where the pane's requests go: its own target, else the default one, else (one target
        only) the backend's own model, named by nothing (None)."""
        if pane.target is not None:
            return pane.target
        if self.default_target is not None:
            return self.default_target
        return self._known[0] if len(self._known) > 1 else None

    def _on_target(self, pane: Pane) -> dict[str, Target]:
        target = self.target_of(pane)
        return {} if target is None else {"target": target}

    def refresh_targets(self) -> None:
        """Pick up targets that appeared (a server reached, an adapter loaded); panes keep theirs,
        known or not (a pane whose target went away says why when it runs)."""
        self.engine_line.set_servers(servers_text(self.control.backend.servers()))
        known = self.control.backend.targets()
        if known == self._known:  # a label is made of a target's fields: equal targets, equal labels
            return
        self._known = known
        if self.default_target is not None:
            self.default_target = canonical(self.default_target, known)
        for pane in self.panes():
            if pane.target is not None:
                pane.target = canonical(pane.target, known)
        self.settings.set_targets(known, self.default_target)
        self._refresh_titles()

    def target_note(self, target: Target) -> str:
        """What the picker says beside a target: what it is, or why it cannot be used now."""
        try:
            server = self.control.backend.backend_for(target)
        except Exception as exc:  # a target of a backend this workbench lacks
            return f"not available: {exc}"
        if server.state is EngineState.ERROR:
            return f"not available: {server.error or 'stopped'}"
        if server.state is EngineState.LOADING:
            return "loading…" if target.is_local else "connecting…"
        if target.is_local:
            return "LoRA adapter, this process" if target.adapter else "the engine in this process"
        return f"LoRA adapter on {target.source}" if target.adapter else f"model on {target.source}"

    def action_pick_target(self) -> None:
        """Choose the focused pane's target from every known one (ctrl+t)."""
        pane = self.focused_pane()
        if pane is None or self.refuse_in_battle(pane, "Choosing a target"):
            return
        self.refresh_targets()
        choices = [(t, self.target_note(t)) for t in self._known]

        def chosen(target: Target | None) -> None:
            if target is not None and pane.is_attached:
                pane.target = target
                self._do_refresh_titles()
                self.session_dirty = True

        # With one target known, a pane names none (target_of: None), yet that one is where it runs.
        current = self.target_of(pane) or (self._known[0] if len(self._known) == 1 else None)
        self.app.push_screen(TargetPicker(f"Target of pane {pane.number}", choices, current), chosen)

    async def action_every_target(self) -> None:
        """The focused pane's prompt and settings on every other known target, one pane each,
        run at once (f7): the first step of a model comparison."""
        pane = self.focused_pane()
        if pane is None or self.refuse_in_battle(pane, "Every target"):
            return
        self.refresh_targets()
        mine = self.target_of(pane)
        others = [t for t in self._known if not same(t, mine)]
        if not others:
            self.notify("There is one target only: name adapters with --lora NAME=PATH, servers with "
                        "--base-url.", severity="warning")
            return
        if pane.target is None and mine is not None:
            pane.target = mine  # the comparison names every pane's target
        await self._open_and_run(pane, [(t, "") for t in others])

    def action_sweep(self) -> None:
        """One pane per combination of values for knobs or targets, from the focused pane (f8)."""
        pane = self.focused_pane()
        if pane is None or self.refuse_in_battle(pane, "A sweep"):
            return
        self.refresh_targets()
        room = MAX_PANES - len(self.panes())

        pane_format = pane.state.output_format or self.settings.output_format

        def check(text: str):
            return parse_sweep(text, self._known, room, pane_format)

        async def chosen(combinations) -> None:
            if combinations and pane.is_attached:
                await self._open_and_run(pane, [(c.target or pane.target, c.label, c.overrides, c.output_format)
                                                for c in combinations])

        self.app.push_screen(AskScreen(
            f"Sweep from pane {pane.number}: one pane per combination, same prompt",
            "knob=values, target=names (* for every target) or format=words, e.g. temperature=0,0.7,1.2 seed=1,2 · "
            "target=* · format=free,pane · enter runs, esc cancels", check,
            placeholder="temperature=0,0.7,1.2 seed=1,2"), chosen)

    async def _open_and_run(self, source: Pane, panes: list[tuple]) -> None:
        """New panes after `source`, each (target, label[, overrides[, output format]]), with its
        thread up to the last question (or with the message being written) and its settings; each
        runs at once when there is something to run."""
        conversation, draft = comparison_start(source.state)
        made: list[Pane] = []
        for target, label, *more in panes:
            overrides = {**source.overrides(), **(more[0] if more else {})}
            own_format = more[1] if len(more) > 1 and more[1] is not None else source.state.output_format
            state = PaneState(self._take_number(), conversation.copy(), draft, overrides, target, label,
                              source.heat, output_format=own_format)
            pane = await self.add_pane(state, after=(made or [source])[-1])
            if pane is None:
                break
            made.append(pane)
        self._do_refresh_titles()
        if conversation or draft.strip():
            with self.started_together():  # one comparison in the history
                for pane in made:
                    self.run_pane(pane)
        if made:
            self.set_focus(made[0].editor)

    def action_load_adapter(self) -> None:
        """Name a LoRA adapter for the in-process engine while it runs (the palette): it loads into
        the engine at once (AsyncLLM.add_lora) and becomes a target."""
        backend = self.control.backend
        if not backend.abilities.adapters:
            self.notify("Adapters load into the in-process engine; a server loads its own.", severity="warning")
            return

        async def chosen(spec) -> None:
            if spec is None:
                return
            try:
                target = await backend.load_adapter(*spec)
            except Exception as exc:  # the engine's reason, as it is
                self.notify(f"The adapter did not load: {exc}", severity="error", timeout=15)
                return
            self.refresh_targets()
            self.notify(f"Adapter {target.adapter} loaded: choose it with ctrl+t, or f7 for every target.")

        self.app.push_screen(AskScreen("Load a LoRA adapter into the engine",
                                       "NAME=PATH: a name of your choice and the adapter's folder (PEFT: "
                                       "adapter_config.json and adapter_model.safetensors)",
                                       parse_lora_spec, placeholder="proverbs=~/adapters/proverbs"), chosen)

    def action_remove_adapter(self) -> None:
        """Unload a LoRA adapter from the engine (the palette); its panes keep their answers and say
        why when they run again."""
        backend = self.control.backend
        names = sorted({t.adapter for t in self._known if t.is_local and t.adapter})
        if not backend.abilities.adapters or not names:
            self.notify("No adapter of the engine in this process to remove.", severity="warning")
            return

        def check(text: str) -> str:
            if text.strip() not in names:
                raise ValueError(f"no adapter {text.strip()!r} (the engine has {', '.join(names)})")
            return text.strip()

        async def chosen(name) -> None:
            if name is not None:
                await backend.remove_adapter(name)
                self.refresh_targets()
                self.notify(f"Adapter {name} removed.")

        self.app.push_screen(AskScreen("Remove a LoRA adapter from the engine", f"one of: {', '.join(names)}",
                                       check, placeholder=names[0]), chosen)

