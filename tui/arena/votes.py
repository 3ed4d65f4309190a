"""One vote of the blind arena, and its JSON record (checked field by field when read back)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from tui import validate as V

# The answer on the left was titled A, and was shown first; "both_bad": neither answer was good.
OUTCOMES = ("a", "b", "tie", "both_bad")
NAME_LIMIT = 200  # a target's name, as a pane title shows it


@dataclass(frozen=True)
class Vote:
    """Which answer a person preferred, before the targets' names were revealed.

    `left` is the target whose answer was shown as A, `right` the one shown as B; `outcome` says
    which side won (`a`, `b`), or `tie`, or `both_bad`."""

    battle: str  # the battle's id: one prompt answered by both targets
    time: float  # when the vote was cast, in seconds since the epoch
    left: str
    right: str
    outcome: str
    prompt: str | None = None  # the prompt (or turn) both targets answered, if kept

    def __post_init__(self) -> None:
        # Checked here as well as in from_record, so that a Vote made in code is as sound as one read.
        V.one_of(self.outcome, "outcome", OUTCOMES)
        for side in ("left", "right"):
            if not getattr(self, side):
                raise V.FieldError(side, "must name a target, not be empty")
        if self.left == self.right:
            raise V.FieldError("right", f"must differ from left ({V.describe(self.left)}): "
                                        "a target cannot be rated against itself")

    @property
    def winner(self) -> str | None:
        """The target whose answer won, or None for a tie or both bad."""
        return {"a": self.left, "b": self.right}.get(self.outcome)

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, data: Any, field: str = "") -> Vote:
        """A vote from its JSON record, every field checked; FieldError names the first bad one
        (under `field`, e.g. "votes[3]", when the record sits inside something larger)."""
        at = (lambda name: f"{field}.{name}") if field else (lambda name: name)
        data = V.table(data, field or "vote")
        V.known_keys(data, field, {f.name for f in fields(cls)})
        for required in ("battle", "time", "left", "right", "outcome"):
            if required not in data:
                raise V.FieldError(at(required), "is missing")
        values = dict(battle=V.string(data["battle"], at("battle"), limit=NAME_LIMIT),
                      time=V.number(data["time"], at("time"), low=0),
                      left=V.string(data["left"], at("left"), limit=NAME_LIMIT),
                      right=V.string(data["right"], at("right"), limit=NAME_LIMIT),
                      outcome=V.one_of(data["outcome"], at("outcome"), OUTCOMES),
                      prompt=V.optional_string(data.get("prompt"), at("prompt")))
        try:
            return cls(**values)
        except V.FieldError as error:  # an invariant of Vote's own, named where the record sits
            raise V.FieldError(at(error.field), error.reason) from None
