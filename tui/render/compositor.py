"""A compositor whose partial updates render only the widgets that own the changed cells.

Textual's `Compositor.render_partial_update` takes the bounding box of all changed regions, then
renders every widget whose *clip* overlaps that box, each over its whole visible area, and keeps
only the changed lines. Inside a screen, a widget's clip is its container's area, so every frame
rendered every widget on the screen in full (prompt editors, footer and settings included),
although only a line or two of each answer had changed. That was most of the app's CPU while
answers stream, taken from the engine processes it shares the cores with (docs/performance.md).

Here each widget is rendered only for the rows of changed regions that it overlaps, and a changed
region stops being looked at once a widget in front of the rest covers it whole. The result is the
same update (`tests/test_render_equivalence.py` checks it against Textual's own, frame by frame):

- Widgets come front to back, and a cell keeps the first strip painted on it ("first wins", as in
  Textual). A cell of a changed region gets painted by the front-most widget there: a region is
  only dropped once a widget that was painted earlier, hence in front, covers all of it.
- A widget is rendered over its full visible width, so that its strips divide at the same cuts as
  Textual's; only the rows are limited.
- The chops (each changed row cut at every widget's edges) are made for the changed rows only,
  and a strip whose pieces are all filled already by widgets in front is not divided; the pieces
  are `LightStrip`s (see plain.py). Textual makes chops for every row of the screen and divides
  every strip.

It relies on Textual's private compositor API: used only on the fast path (see tui/render/__init__.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.segment import Segment
from textual._compositor import ChopsUpdate, Compositor  # noqa: PLC2701 - see the module docstring
from textual.geometry import Region
from textual.strip import Strip

from tui.render.plain import LightStrip


class ChangedCellsCompositor(Compositor):
    def __init__(self) -> None:
        super().__init__()
        self._changed: list[Region] | None = None
        # Per map of visible widgets (rebuilt by Textual on each reflow): the widgets with
        # something visible, front to back, and which of them are on each screen row.
        self._indexed_map: dict | None = None
        self._visible: list[tuple[object, Region, Region]] = []
        self._on_row: list[list[int]] = []
        self._columns: list[tuple[int, int]] = []  # per widget in _visible: its visible columns
        self._chop_ends: tuple[object, list[list[int]]] | None = None  # (cuts, their ends)

    def render_partial_update(self) -> ChopsUpdate | None:
        screen_region = self.size.region
        changed = [region.intersection(screen_region) for region in self._dirty_regions]
        self._dirty_regions.clear()
        changed = [region for region in changed if region]
        if not changed:
            return None
        spans = list(self._regions_to_spans(changed))
        self._changed = changed
        try:
            chops = self._changed_chops({y for y, _, _ in spans})
        finally:
            self._changed = None
        cuts = self.cuts
        if self._chop_ends is None or self._chop_ends[0] is not cuts:  # cuts change with the map
            self._chop_ends = (cuts, [cut_set[1:] for cut_set in cuts])
        return ChopsUpdate(chops, spans, self._chop_ends[1])

    def _changed_chops(self, rows: set[int]) -> list[dict[int, Strip | None] | None]:
        """Textual's `_render_chops` for the changed rows: the same strips in the same cells, but
        no chops for the other rows (an update reads only the rows in its spans) and no pieces
        that a widget in front has already filled."""
        cuts = self.cuts
        chops: list[dict[int, Strip | None] | None] = [None] * len(cuts)
        for y in rows:
            chops[y] = dict.fromkeys(cuts[y][:-1])
        for region, clip, strips in self._get_renders():
            render_region = region.intersection(clip)
            render_x = render_region.x
            first_cut, last_cut = render_region.column_span
            for y, strip in zip(render_region.line_range, strips):
                line = chops[y]
                if line is None:
                    continue
                final_cuts = [cut for cut in cuts[y] if last_cut >= cut >= first_cut]
                if all(line.get(cut, True) is not None for cut in final_cuts[:-1]):
                    continue  # every piece of it is painted already, by widgets in front
                for cut, piece in zip(final_cuts, _divide(strip, [cut - render_x for cut in final_cuts[1:]])):
                    if line.get(cut) is None:
                        line[cut] = piece
        return chops

    def _get_renders(self, crop: Region | None = None) -> Iterable[tuple[Region, Region, list[Strip]]]:
        changed = self._changed
        if changed is None:  # full updates, screenshots: Textual's own way
            yield from super()._get_renders(crop)
            return
        visible_widgets = self.visible_widgets
        if self._indexed_map is not visible_widgets:
            self._index(visible_widgets)
        # Which changed regions each widget overlaps: only the widgets on a region's rows whose
        # columns meet it (a changed line in one pane is not looked at by the other panes' widgets).
        on_row, columns = self._on_row, self._columns
        claims: dict[int, list[int]] = {}
        for number, (cx, cy, cw, ch) in enumerate(changed):
            cx2 = cx + cw
            for y in range(cy, min(cy + ch, len(on_row))):
                for index in on_row[y]:
                    x1, x2 = columns[index]
                    if x1 < cx2 and cx < x2:
                        claimed = claims.get(index)
                        if claimed is None:
                            claims[index] = [number]
                        elif claimed[-1] != number:
                            claimed.append(number)
        still_open = [True] * len(changed)
        left = len(changed)
        all_visible = self._visible
        for index in sorted(claims):  # front to back
            if not left:
                return
            widget, region, visible = all_visible[index]
            vx, vy, vw, vh = visible
            vx2, vy2 = vx + vw, vy + vh
            rows: set[int] = set()
            for number in claims[index]:
                if not still_open[number]:
                    continue
                cx, cy, cw, ch = changed[number]
                cx2, cy2 = cx + cw, cy + ch
                rows.update(range(max(cy, vy), min(cy2, vy2)))
                if vx <= cx and vy <= cy and cx2 <= vx2 and cy2 <= vy2:
                    still_open[number] = False  # this widget paints all of it, in front of the rest
                    left -= 1
            if not rows:
                continue
            for first, last in _runs(sorted(rows)):
                part = Region(visible.x, first, visible.width, last - first + 1)
                yield region, part, widget.render_lines(
                    Region(part.x - region.x, part.y - region.y, part.width, part.height))

    def _index(self, visible_widgets: dict) -> None:
        self._indexed_map = visible_widgets
        self._visible = []
        self._columns = []
        on_row: list[list[int]] = [[] for _ in range(self.size.height)]
        for widget, (region, clip) in visible_widgets.items():
            visible = region.intersection(clip)
            if not visible:
                continue
            index = len(self._visible)
            self._visible.append((widget, region, visible))
            self._columns.append((visible.x, visible.right))
            for y in visible.line_range:
                if 0 <= y < len(on_row):
                    on_row[y].append(index)
        self._on_row = on_row


def _divide(strip: Strip, cuts: list[int]) -> list[Strip]:
    """`Strip.divide` without its cache (a streamed line is divided once), into `LightStrip`s."""
    cell_length = strip.cell_length
    cuts = [cut for cut in cuts if cut <= cell_length]
    if cuts == [cell_length]:
        return [strip]
    pieces = []
    position = 0
    for segments, cut in zip(Segment.divide(strip._segments, cuts), cuts):  # noqa: SLF001
        pieces.append(LightStrip(segments, cut - position))
        position = cut
    return pieces


def _runs(rows: list[int]) -> Iterable[tuple[int, int]]:
    """Consecutive runs of sorted row numbers, as (first, last)."""
    start = previous = rows[0]
    for row in rows[1:]:
        if row != previous + 1:
            yield start, previous
            start = row
        previous = row
    yield start, previous
