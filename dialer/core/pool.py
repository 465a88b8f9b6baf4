"""The PBX pool: which Asterisk server each call goes to, and when a server counts as lost.

One dialer can drive several PBXs, each with its own AMI link and its own channel limit.
The pool is pure bookkeeping the engine consults: it holds, per PBX, whether its link is
up, since when it has been down, and the calls assigned to it. Rules:

- a call is assigned when the core reserves it (so capacity is taken before the gate
  answers, and two reservations cannot both count the same free channel);
- the PBX with the most free channels gets it; among equals, the one after the last
  chosen (round-robin in configuration order), so equal PBXs share the load evenly;
- PBXs whose campaign queue has agents are preferred over PBXs without (a person who
  answers on an unstaffed PBX could only be abandoned), when the engine says which;
- a PBX whose link is down gets nothing; free capacity is the sum over PBXs that are up;
- a PBX down for `grace_s` is *lost*: `expire()` hands its calls to the engine once, which
  ends them. If its link comes back, it is an ordinary member again;
- an assignment is never moved once the call was originated: re-sending an Originate to
  another PBX could call the borrower twice. Only calls not yet originated are re-routed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace

from .events import AgentEvent, Event

#: The name of the only PBX when none is configured by name (`--ami`, one embedded PBX).
DEFAULT_PBX = "default"
#: A limit that never binds: the campaign's own `max_lines` does.
UNLIMITED = 1_000_000


@dataclass(slots=True)
class PbxState:
    name: str
    limit: int
    up: bool = True
    down_since: float | None = None
    lost: bool = False
    calls: set[str] = field(default_factory=set)

    @property
    def free(self) -> int:
        return max(0, self.limit - len(self.calls)) if self.up else 0


@dataclass(frozen=True, slots=True)
class PbxSnapshot:
    name: str
    up: bool
    lost: bool
    limit: int
    in_use: int


class PbxPool:
    def __init__(self, limits: Iterable[tuple[str, int]] = ((DEFAULT_PBX, UNLIMITED),), *,
                 grace_s: float = 30.0) -> None:
        self._pbxs: dict[str, PbxState] = {}
        for name, limit in limits:
            if not name:
                raise ValueError("a PBX needs a name")
            if name in self._pbxs:
                raise ValueError(f"PBX {name!r} configured twice")
            if limit < 1:
                raise ValueError(f"PBX {name!r}: channel limit must be >= 1, got {limit}")
            self._pbxs[name] = PbxState(name, limit)
        if not self._pbxs:
            raise ValueError("the PBX pool is empty")
        if not grace_s > 0:
            raise ValueError(f"grace_s must be > 0, got {grace_s!r}")
        self.grace_s = grace_s
        self._order = list(self._pbxs)
        self._owner: dict[str, str] = {}
        self._next = 0  # round-robin position among equals

    # --- state ------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._order)

    def _get(self, name: str) -> PbxState:
        try:
            return self._pbxs[name]
        except KeyError:
            raise ValueError(f"unknown PBX {name!r}") from None

    def link_changed(self, name: str, up: bool, at: float) -> None:
        p = self._get(name)
        if up:
            p.up, p.down_since, p.lost = True, None, False
        elif p.up:
            p.up, p.down_since = False, at

    def usable(self, name: str) -> bool:
        p = self._pbxs.get(name)
        return p is not None and p.up

    def any_up(self) -> bool:
        return any(p.up for p in self._pbxs.values())

    def free(self) -> int:
        """Channels free over the PBXs that are up: what the pacer may still launch."""
        return sum(p.free for p in self._pbxs.values())

    def owner(self, call_id: str) -> str | None:
        return self._owner.get(call_id)

    def calls_on(self, name: str) -> set[str]:
        return set(self._get(name).calls)

    # --- routing ----------------------------------------------------------------------

    def assign(self, call_id: str, prefer: Collection[str] = ()) -> str | None:
        """Give the call a PBX (None: no free channel on any PBX that is up)."""
        if call_id in self._owner:
            raise ValueError(f"call {call_id!r} is already assigned")
        name = self._choose(prefer)
        if name is not None:
            self._pbxs[name].calls.add(call_id)
            self._owner[call_id] = name
        return name

    def reroute(self, call_id: str, prefer: Collection[str] = ()) -> str | None:
        """A call not yet originated whose PBX went down moves to one that is up; it
        stays where it is if it can (returns its PBX) or if nothing else is free."""
        current = self._owner.get(call_id)
        if current is None:
            return self.assign(call_id, prefer)
        if self._pbxs[current].up:
            return current
        name = self._choose(prefer)
        if name is None:
            return current
        self._pbxs[current].calls.discard(call_id)
        self._pbxs[name].calls.add(call_id)
        self._owner[call_id] = name
        return name

    def release(self, call_id: str) -> str | None:
        name = self._owner.pop(call_id, None)
        if name is not None:
            self._pbxs[name].calls.discard(call_id)
        return name

    def _choose(self, prefer: Collection[str]) -> str | None:
        candidates = [i for i, n in enumerate(self._order) if self._pbxs[n].free > 0]
        if not candidates:
            return None
        staffed = [i for i in candidates if self._order[i] in prefer]
        if staffed:
            candidates = staffed
        best = max(self._pbxs[self._order[i]].free for i in candidates)
        tied = [i for i in candidates if self._pbxs[self._order[i]].free == best]
        n = len(self._order)
        pick = min(tied, key=lambda i: (i - self._next) % n)
        self._next = (pick + 1) % n
        return self._order[pick]

    # --- loss -------------------------------------------------------------------------

    def expire(self, now: float) -> list[tuple[str, list[str]]]:
        """PBXs down for `grace_s` or more become lost, once: (name, its calls) each.

        The engine ends the calls that were originated (as lost; they leave the pool when
        they close) and re-routes the others when the gate approves them."""
        out: list[tuple[str, list[str]]] = []
        for name in self._order:
            p = self._pbxs[name]
            if p.up or p.lost or p.down_since is None or now - p.down_since < self.grace_s:
                continue
            p.lost = True
            out.append((name, sorted(p.calls)))
        return out

    def snapshot(self) -> tuple[PbxSnapshot, ...]:
        return tuple(PbxSnapshot(p.name, p.up, p.lost, p.limit, len(p.calls))
                     for p in (self._pbxs[n] for n in self._order))


def from_pbx(event: Event, pbx: str, *, namespace: bool) -> Event:
    """An event translated from one PBX's AMI stream, as the engine must see it.

    Agent events are stamped with the PBX. With several PBXs, agent names are also
    prefixed `<pbx>:` (in agent events and in the call events that name an agent):
    two PBXs may well both have an `agent1`, and they are different people."""
    agent = getattr(event, "agent", None)
    changes: dict[str, str] = {}
    if namespace and isinstance(agent, str) and agent:
        changes["agent"] = f"{pbx}:{agent}"
    if isinstance(event, AgentEvent):
        changes["pbx"] = pbx
    return replace(event, **changes) if changes else event  # type: ignore[arg-type]
