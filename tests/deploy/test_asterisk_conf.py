"""deploy/asterisk: the shipped Asterisk configuration says what the dialer relies on.

No Asterisk is needed: a small parser reads Asterisk's ini-like files, and the checks tie
them to the code (the Originate's channel variables in dialer/core/engine.py, the events
AmiTranslator handles, the CampaignConfig defaults, the compliance preset's busy lock) and
to the real Asterisk 22 recordings in tests/fixtures/ami (the event filters are applied to
them the way main/manager.c does, and the translator must not notice the difference).
docs/asterisk.md records the run of these files on a real Asterisk.
"""

from __future__ import annotations

import json
import pathlib
import re
from dataclasses import dataclass, field

import pytest

from dialer.ami.codec import Frame, parse_buffer
from dialer.ami.recording import split_recording
from dialer.ami.translate import AmiTranslator
from dialer.core.model import CampaignConfig

ROOT = pathlib.Path(__file__).resolve().parents[2]
AST = ROOT / "deploy" / "asterisk"
DOCS = (ROOT / "docs" / "asterisk.md", ROOT / "README.md")
RECORDINGS = ROOT / "tests" / "fixtures" / "ami"
CALL_RECORDINGS = ("human_1", "machine_5", "busy_7", "busy_7_with_channelid", "noanswer_8",
                   "human_no_free_agent_abandon")
DEFAULTS = CampaignConfig(name="x")


# --- a tiny parser for Asterisk's configuration syntax ------------------------------------

@dataclass
class Section:
    name: str
    options: str  # "(!)", "(template)" or ""
    entries: list[tuple[str, str, int]] = field(default_factory=list)  # key, value, line

    def values(self, key: str) -> list[str]:
        return [v for k, v, _ in self.entries if k == key]

    def one(self, key: str) -> str:
        vals = self.values(key)
        assert len(vals) == 1, f"[{self.name}] must set {key} exactly once, found {vals}"
        return vals[0]


def strip_comment(line: str) -> str:
    """Cut at the first ';' not escaped as '\\;' (Asterisk's comment rule)."""
    out, i = [], 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if c == ";":
            break
        out.append(c)
        i += 1
    return "".join(out).strip()


def parse_conf(path: pathlib.Path) -> list[Section]:
    sections: list[Section] = []
    in_block = False
    for no, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if in_block:  # ;-- block comment --;
            in_block = "--;" not in raw
            continue
        if raw.lstrip().startswith(";--"):
            in_block = "--;" not in raw.lstrip()[3:]
            continue
        line = strip_comment(raw)
        if not line:
            continue
        if line.startswith("#"):
            assert re.fullmatch(r"#(include|tryinclude)\s+\S+", line), f"{path.name}:{no}: {line!r}"
            continue
        if m := re.fullmatch(r"\[([^\]]+)\](\([^)]*\))?", line):
            sections.append(Section(m.group(1), m.group(2) or ""))
            continue
        m = re.fullmatch(r"([^=>]+?)\s*=>?\s*(.*)", line)
        assert m, f"{path.name}:{no}: not 'key = value': {line!r}"
        assert sections, f"{path.name}:{no}: entry before any [section]"
        sections[-1].entries.append((m.group(1).strip(), m.group(2).strip(), no))
    return sections


def section(sections: list[Section], name: str) -> Section:
    found = [s for s in sections if s.name == name]
    assert len(found) == 1, f"expected one [{name}] section, found {len(found)}"
    return found[0]


def split_args(args: str) -> list[str]:
    """Split application arguments at commas outside (), {} and []."""
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for c in args:
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        if c == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    out.append("".join(cur))
    return out


@dataclass
class Step:
    context: str
    exten: str
    index: int  # position within the extension, 0-based
    label: str
    app: str
    args: str
    line: int


def dialplan(path: pathlib.Path) -> dict[str, dict[str, list[Step]]]:
    """context -> extension -> its priorities in order (exten/same, n, n(label), numbers)."""
    plan: dict[str, dict[str, list[Step]]] = {}
    for sec in parse_conf(path):
        if sec.name == "general":
            continue
        ctx = plan.setdefault(sec.name, {})
        current = None
        for key, value, no in sec.entries:
            if key == "exten":
                current, value = value.split(",", 1)
            else:
                assert key == "same" and current is not None, f"line {no}: {key} => {value}"
            prio, app = value.split(",", 1)
            label = m.group(1) if (m := re.fullmatch(r"(?:n|\d+)\((\w+)\)", prio)) else ""
            assert label or re.fullmatch(r"n|\d+", prio), f"line {no}: priority {prio!r}"
            m = re.fullmatch(r"(\w+)\((.*)\)", app)
            assert m, f"line {no}: application call {app!r}"
            steps = ctx.setdefault(current, [])
            steps.append(Step(sec.name, current, len(steps), label, m.group(1), m.group(2), no))
    return plan


# --- fixtures -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def plan() -> dict[str, dict[str, list[Step]]]:
    return dialplan(AST / "extensions.conf")


@pytest.fixture(scope="module")
def ext_text() -> str:
    return (AST / "extensions.conf").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def manager() -> list[Section]:
    return parse_conf(AST / "manager.conf")


@pytest.fixture(scope="module")
def docs() -> str:
    texts = [p.read_text(encoding="utf-8") for p in DOCS if p.exists()]
    text = "\n".join(texts)
    assert "Asterisk" in text and "DialerQueueResult" in text, "docs/asterisk.md (or README) missing"
    return text


def steps_of(plan: dict[str, dict[str, list[Step]]], context: str, exten: str = "s") -> list[Step]:
    assert context in plan, f"extensions.conf has no [{context}] context"
    assert exten in plan[context], f"[{context}] has no extension {exten!r}"
    return plan[context][exten]


def first(steps: list[Step], app: str) -> Step:
    found = [s for s in steps if s.app == app]
    assert found, f"[{steps[0].context}] never calls {app}()"
    return found[0]


def userevent(step: Step) -> tuple[str, dict[str, str]]:
    name, *fields = split_args(step.args)
    out = {}
    for f in fields:
        k, sep, v = f.partition(":")
        assert sep, f"UserEvent field {f!r} is not 'Header: value'"
        out[k.strip()] = v.strip()
    return name, out


def default_of(defaults: str, name: str) -> str:
    """The value [dialer-defaults] gives a variable the Originate did not set."""
    m = re.search(rf'"\$\{{{name}\}}" = ""\]\?Set\({name}=([^)]*)\)', defaults)
    assert m, f"[dialer-defaults] has no default for {name}"
    return m.group(1)


def originate_variables() -> list[str]:
    """The channel variables the core sends with every Originate (engine._originate)."""
    src = (ROOT / "dialer" / "core" / "engine.py").read_text(encoding="utf-8")
    body = src.split("def _originate", 1)[1].split("\n    def ", 1)[0]
    names = re.findall(r'\("(DIALER_[A-Z_]+)",', body)
    assert "DIALER_CALL_ID" in names, "engine._originate no longer lists its variables as expected"
    return names


# --- the dialplan -----------------------------------------------------------------------------

def test_the_originate_target_is_the_answered_call_entry(plan: dict[str, dict[str, list[Step]]]) -> None:
    """The dialer's default Context/Exten/Priority exist and start the shipped logic."""
    steps = steps_of(plan, DEFAULTS.context, DEFAULTS.exten)
    assert DEFAULTS.priority == 1 and steps
    for ctx in ("dialer-defaults", "dialer-queue", "dialer-bot", "dialer-escalate"):
        steps_of(plan, ctx)
    assert steps[1].app == "Gosub" and steps[1].args.startswith("dialer-defaults,s,1")
    assert steps_of(plan, "dialer-defaults")[-1].app == "Return"


def test_amd_runs_with_per_campaign_parameters_and_reports_the_verdict(
        plan: dict[str, dict[str, list[Step]]]) -> None:
    steps = steps_of(plan, DEFAULTS.context, DEFAULTS.exten)
    amd = first(steps, "AMD")
    args = split_args(amd.args)
    # AMD(initialSilence,greeting,afterGreetingSilence,totalAnalysisTime,minimumWordLength,
    #     betweenWordsSilence,maximumNumberOfWords,silenceThreshold,maximumWordLength)
    assert len(args) == 9 and all(re.fullmatch(r"\$\{DIALER_AMD_[A-Z_]+\}", a) for a in args), args
    assert len(set(args)) == 9
    report = [s for s in steps if s.app == "UserEvent" and userevent(s)[0] == "DialerAMD"]
    assert len(report) == 1 and report[0].index > amd.index
    _, fields = userevent(report[0])
    assert fields == {"Status": "${AMDSTATUS}", "Cause": "${AMDCAUSE}", "CallID": "${DIALER_CALL_ID}"}
    # Between AMD() and the report nothing may branch away or wait.
    between = steps[amd.index + 1:report[0].index]
    assert all(s.app in ("ExecIf", "Set", "NoOp", "Verbose") for s in between), between
    # DIALER_AMD=0 skips AMD (the core then treats the answer as the person).
    skip = steps[amd.index - 1]
    assert skip.app == "GotoIf" and '"${DIALER_AMD}" = "0"' in skip.args


def test_the_user_event_names_are_the_ones_the_translator_reads(
        plan: dict[str, dict[str, list[Step]]]) -> None:
    src = (ROOT / "dialer" / "ami" / "translate.py").read_text(encoding="utf-8")
    read = set(re.findall(r'"(Dialer[A-Za-z]+)"', src))
    sent = {userevent(s)[0] for ctx in plan.values() for ext in ctx.values() for s in ext if s.app == "UserEvent"}
    assert {"DialerAMD", "DialerQueueResult"} <= read & sent
    assert all(n.startswith("Dialer") for n in sent), "the AMI event filter passes UserEvents named Dialer*"
    for field_name in ("Status", "Cause", "CallID", "QueueStatus"):
        assert f'frame.get("{field_name}")' in src


def test_queue_timeout_comes_from_the_abandonment_threshold(
        plan: dict[str, dict[str, list[Step]]]) -> None:
    steps = steps_of(plan, "dialer-queue")
    queue = first(steps, "Queue")
    args = split_args(queue.args)
    assert args[0] == "${DIALER_QUEUE}" and args[4] == "${DIALER_QUEUE_TIMEOUT_S}", args
    assert "c" not in args[1], "option c would return CONTINUE after a connected call"
    before = " ".join(s.args for s in steps[:queue.index])
    assert "MATH(${DIALER_ABANDON_S}-${DIALER_ABANDON_MARGIN_S},int)" in before
    # Queue() reads its timeout with atoi(): "0" or empty means no timeout at all.
    assert "$[${DIALER_QUEUE_TIMEOUT_S} < 1]?Set(DIALER_QUEUE_TIMEOUT_S=1)" in before


def test_queue_result_is_reported_and_the_identification_message_follows_at_once(
        plan: dict[str, dict[str, list[Step]]]) -> None:
    steps = steps_of(plan, "dialer-queue")
    queue = first(steps, "Queue")
    report = steps[queue.index + 1]
    assert report.app == "UserEvent"
    name, fields = userevent(report)
    assert name == "DialerQueueResult"
    assert fields == {"QueueStatus": "${QUEUESTATUS}", "CallID": "${DIALER_CALL_ID}"}
    rest = steps[report.index + 1:]
    play = first(rest, "Playback")
    assert play.args == "${DIALER_ID_MESSAGE}" and play.label == "idmessage"
    # Nothing that takes time (Wait, Answer, another Playback) before the message.
    assert all(s.app == "GotoIf" for s in rest[:rest.index(play)]), rest
    assert '"${QUEUESTATUS}" = "CONTINUE"' in rest[0].args


def test_the_timeout_arithmetic_keeps_the_message_within_the_threshold(
        plan: dict[str, dict[str, list[Step]]]) -> None:
    """Greeting end -> HUMAN takes after_greeting_silence; then Queue() waits whole seconds."""
    defaults = " ".join(s.args for s in steps_of(plan, "dialer-defaults"))
    margin = float(default_of(defaults, "DIALER_ABANDON_MARGIN_S"))
    amd = section(parse_conf(AST / "amd.conf"), "general")
    assert margin == int(amd.one("after_greeting_silence")) / 1000, \
        "DIALER_ABANDON_MARGIN_S must equal amd.conf after_greeting_silence"
    default_threshold = float(default_of(defaults, "DIALER_ABANDON_S"))
    assert default_threshold == DEFAULTS.abandon_after_s
    for tenths in range(int((1 + margin) * 10), 101):
        threshold = tenths / 10
        queue_timeout = max(1, int(threshold - margin))
        assert queue_timeout + margin <= threshold + 1e-9, threshold


def test_recording_covers_the_whole_answered_call(plan: dict[str, dict[str, list[Step]]]) -> None:
    steps = steps_of(plan, DEFAULTS.context, DEFAULTS.exten)
    mix = first(steps, "MixMonitor")
    assert mix.index < first(steps, "AMD").index, "start recording before AMD listens"
    guard = steps[mix.index - 2]
    assert guard.app == "GotoIf" and '"${DIALER_RECORD}" != "1"' in guard.args
    name = steps[mix.index - 1]
    assert name.app == "Set" and name.args.startswith("DIALER_RECORD_FILE=")
    assert "FILTER(-_0-9A-Za-z,${DIALER_CALL_ID})" in name.args, "file named after the call id, sanitised"
    assert split_args(mix.args)[0] == "${DIALER_RECORD_FILE}"
    assert "b" not in split_args(mix.args)[1], "option b would record only the agent part"


def test_no_call_outlives_the_ledger_busy_lock(plan: dict[str, dict[str, list[Step]]]) -> None:
    steps = steps_of(plan, DEFAULTS.context, DEFAULTS.exten)
    limit = first(steps, "Set")
    assert limit.args == "TIMEOUT(absolute)=${DIALER_MAX_CALL_S}"
    assert limit.index < first(steps, "AMD").index
    defaults = " ".join(s.args for s in steps_of(plan, "dialer-defaults"))
    max_call_s = int(default_of(defaults, "DIALER_MAX_CALL_S"))
    for preset in (ROOT / "dialer" / "compliance" / "presets").glob("*.json"):
        rules = json.loads(preset.read_text(encoding="utf-8"))
        busy = [r for r in _walk(rules) if r.get("kind") == "borrower_busy"]
        assert busy, preset.name
        for rule in busy:
            # The lock counts from the reservation; the call can ring for the whole
            # originate timeout before the absolute timeout even starts.
            assert max_call_s + DEFAULTS.originate_timeout_s < rule["max_call_s"], preset.name


def _walk(node: object) -> list[dict]:
    if isinstance(node, dict):
        return [node, *[d for v in node.values() for d in _walk(v)]]
    if isinstance(node, list):
        return [d for v in node for d in _walk(v)]
    return []


def test_verdicts_are_routed(plan: dict[str, dict[str, list[Step]]]) -> None:
    steps = steps_of(plan, DEFAULTS.context, DEFAULTS.exten)
    labels = {s.label: s for s in steps if s.label}
    assert {"amd", "human", "notsure", "machine", "vmdrop"} <= set(labels)
    assert "dialer-bot,s,1" in labels["human"].args and "${DIALER_BOT_ENDPOINT}" in labels["human"].args
    assert steps[labels["human"].index + 1].args == "dialer-queue,s,1"
    vm = steps[labels["vmdrop"].index:]
    assert [s.app for s in vm[:3]] == ["WaitForSilence", "Playback", "Hangup"]
    assert vm[1].args == "${DIALER_MACHINE_MESSAGE}"
    notsure = " ".join(s.args for s in steps[labels["notsure"].index:labels["machine"].index])
    for policy in ("agent", "machine", "message"):
        assert f'"${{DIALER_NOTSURE}}" = "{policy}"' in notsure


def test_escalation_redirect_target(plan: dict[str, dict[str, list[Step]]]) -> None:
    steps = steps_of(plan, "dialer-escalate")
    assert steps[-1].app == "Goto" and steps[-1].args == "dialer-queue,s,1"
    bot = steps_of(plan, "dialer-bot")
    dial = first(bot, "Dial")
    assert split_args(dial.args)[0] == "${DIALER_BOT_ENDPOINT}"


def test_dialer_call_id_stays_on_the_callee_channel(ext_text: str, plan: dict[str, dict[str, list[Step]]]) -> None:
    """The translator ties any channel with 'VarSet DIALER_CALL_ID' to the call."""
    code = "\n".join(strip_comment(line) for line in ext_text.splitlines())
    assert not re.search(r"_DIALER_CALL_ID\b", code), "DIALER_CALL_ID must not be inheritable"
    for ctx in plan.values():
        for ext in ctx.values():
            for s in ext:
                assert not re.search(r"(^|\()DIALER_CALL_ID=", s.args), f"line {s.line} sets DIALER_CALL_ID"


def test_no_pattern_uses_n_x_or_z_as_letters(plan: dict[str, dict[str, list[Step]]]) -> None:
    """N, X and Z are wildcards in either case: '_agent.' is a-g-e-[2-9]-t and never matches agent1."""
    for ctx, exts in plan.items():
        for name in exts:
            assert not name.lower().startswith("_agent"), f"[{ctx}] {name}"
            if not name.startswith("_"):
                continue
            outside = re.sub(r"\[[^\]]*\]", " ", name[1:])
            for run in re.findall(r"[A-Za-z]+", outside):
                wild = set(run) & set("nxzNXZ")
                assert not wild or (run.isupper() and set(run) <= set("NXZ")), \
                    f"[{ctx}] pattern {name}: {sorted(wild)} are wildcards here; write [n] for the letter"


def test_every_application_and_function_has_its_module_required(ext_text: str,
                                                                plan: dict[str, dict[str, list[Step]]]) -> None:
    builtin = {"NoOp", "Set", "GotoIf", "Goto", "Hangup", "Answer", "Wait", "Verbose"}
    app_module = {
        "AMD": "app_amd", "Queue": "app_queue", "MixMonitor": "app_mixmonitor", "Playback": "app_playback",
        "UserEvent": "app_userevent", "ExecIf": "app_exec", "Gosub": "app_stack", "Return": "app_stack",
        "WaitForSilence": "app_waitforsilence", "Dial": "app_dial",
    }
    func_module = {"TIMEOUT": "func_timeout", "MATH": "func_math", "FILTER": "func_strings",
                   "STRFTIME": "func_strings", "PJSIP_HEADER": "res_pjsip_header_funcs"}
    optional = {"app_dial", "res_pjsip_header_funcs"}  # bot-first and the agent example only
    modules = section(parse_conf(AST / "modules.conf"), "modules")
    required = {v.removesuffix(".so") for v in modules.values("require")}
    used_apps = {s.app for ctx in plan.values() for ext in ctx.values() for s in ext}
    assert used_apps <= builtin | set(app_module), used_apps - builtin - set(app_module)
    code = "\n".join(strip_comment(line) for line in ext_text.splitlines())
    used_funcs = set(re.findall(r"\b([A-Z_]{4,})\(", code))
    assert used_funcs <= set(func_module), used_funcs - set(func_module)
    needed = {app_module[a] for a in used_apps - builtin} | {func_module[f] for f in used_funcs}
    assert needed - optional <= required, needed - optional - required
    assert {"pbx_config", "res_musiconhold"} <= required
    assert modules.one("autoload") == "yes"


def test_every_channel_variable_is_used_and_documented(ext_text: str, docs: str) -> None:
    """What the Originate sends is documented (and the dialplan reads what it must); what
    the dialplan reads is documented too."""
    sent = originate_variables()
    code = "\n".join(strip_comment(line) for line in ext_text.splitlines())
    for name in ("DIALER_CALL_ID", "DIALER_CAMPAIGN", "DIALER_QUEUE", "DIALER_ABANDON_S", "DIALER_AMD"):
        assert name in sent, f"engine._originate no longer sends {name}"
        assert "${" + name + "}" in code, f"extensions.conf never reads {name}"
    read = set(re.findall(r"\$\{(DIALER_[A-Z_]+)\}", code))
    for name in sorted(read | set(sent)):
        assert f"`{name}`" in docs, f"{name} is not documented in docs/asterisk.md"


# --- AMI: manager.conf ---------------------------------------------------------------------

def test_ami_user_has_only_the_classes_it_needs(manager: list[Section]) -> None:
    general = section(manager, "general")
    assert general.one("bindaddr") in ("127.0.0.1", "::1"), "bind AMI to loopback (or a management address)"
    assert general.one("webenabled") == "no"
    assert general.one("timestampevents") == "yes", "the translator takes event times from Timestamp"
    assert not general.values("disabledevents"), "disabledevents is global; leave it commented"
    user = section(manager, "dialer")
    read = set(user.one("read").replace(" ", "").split(","))
    write = set(user.one("write").replace(" ", "").split(","))
    assert read == {"call", "agent", "user", "dialplan", "system"}
    assert write == {"originate", "call", "agent", "reporting"}
    assert not (read | write) & {"all", "command", "config"}
    assert "system" not in write, "system would allow Shutdown/Restart/Reload"
    secret = user.one("secret")
    assert "CHANGE_ME" in secret, "ship a placeholder secret, never a real one"
    assert user.one("deny") == "0.0.0.0/0.0.0.0" and user.values("permit")


def advanced_filters(manager: list[Section]) -> list[dict[str, str]]:
    out = []
    for key, value, _ in section(manager, "dialer").entries:
        if not key.startswith("eventfilter"):
            continue
        m = re.fullmatch(r"eventfilter\((.*)\)", key)
        assert m, f"not the eventfilter(...) form: {key}"
        crit = dict(re.findall(r"(action|name|header|method)\(([^)]*)\)", m.group(1)))
        assert crit.get("action") == "include", key
        crit["pattern"] = value
        out.append(crit)
    return out


def legacy_filters() -> list[str]:
    """The snippet for [dialer] on versions without eventfilter(...) (no section header)."""
    text = (AST / "legacy" / "manager-eventfilters.conf").read_text(encoding="utf-8")
    lines = [strip_comment(x) for x in text.splitlines()]
    assert all(line.startswith("eventfilter =") for line in lines if line), "only eventfilter lines"
    out = [line.split("=", 1)[1].strip() for line in lines if line]
    assert out and not any(p.startswith("!") for p in out)
    return out


def payload(frame: Frame) -> str:
    return "".join(f"{k}: {v}\r\n" for k, v in frame) + "\r\n"


def passes_advanced(frame: Frame, filters: list[dict[str, str]]) -> bool:
    """main/manager.c (20.11+/22.1+): include filters only -> sent if any filter matches."""
    data = payload(frame)
    for f in filters:
        if "name" in f and frame.get("Event") != f["name"]:
            continue
        method, pattern = f.get("method", "none" if "name" in f or "header" in f else "regex"), f["pattern"]
        values = [v for k, v in frame if k == f["header"]] if "header" in f else [data]
        for v in values:
            if (method == "none" or (method == "regex" and re.search(pattern, v))
                    or (method == "starts_with" and v.startswith(pattern))
                    or (method == "ends_with" and v.endswith(pattern))
                    or (method == "contains" and pattern in v) or (method == "exact" and v == pattern)):
                return True
    return False


def passes_legacy(frame: Frame, regexes: list[str]) -> bool:
    """POSIX regexec on the whole payload without REG_NEWLINE: '.' also matches CR/LF."""
    data = payload(frame)
    return any(re.search(r, data, re.DOTALL) for r in regexes)


def recorded_frames(name: str) -> tuple[AmiTranslator, list[Frame]]:
    sessions = split_recording((RECORDINGS / f"{name}.txt").read_bytes())
    items, rest = parse_buffer(sessions[""].received)
    assert rest == b""
    tr = AmiTranslator()
    for raw in sessions[""].sent:
        (sent,), _ = parse_buffer(raw)
        if isinstance(sent, Frame) and sent.name == "Action:Originate":
            call_id = next(v for v in sent.getall("Variable") if v.startswith("DIALER_CALL_ID="))
            tr.register_originate(call_id.split("=", 1)[1], sent.get("ActionID"))
    return tr, [i for i in items if isinstance(i, Frame)]


def is_async_event(frame: Frame) -> bool:
    """Only asynchronous events (they carry Privilege) are filtered; action responses and
    their list items (QueueMember, CoreShowChannel) never are."""
    return frame.kind == "event" and "Privilege" in frame


@pytest.mark.parametrize("flavour", ["advanced", "legacy"])
@pytest.mark.parametrize("name", CALL_RECORDINGS)
def test_filters_keep_everything_the_translator_needs(manager: list[Section], flavour: str, name: str) -> None:
    filters = advanced_filters(manager)
    regexes = legacy_filters()

    def keep(f: Frame) -> bool:
        if not is_async_event(f):
            return True
        return passes_advanced(f, filters) if flavour == "advanced" else passes_legacy(f, regexes)

    tr_all, frames = recorded_frames(name)
    tr_kept, _ = recorded_frames(name)
    kept = [f for f in frames if keep(f)]
    at = 1795000000.0
    everything = [e for f in frames for e in tr_all.translate(f, at)]
    filtered = [e for f in kept for e in tr_kept.translate(f, at)]
    assert filtered == everything
    dropped = {f.name for f in frames if not keep(f)}
    assert "Newexten" in dropped, "the point of the filters"
    assert len(kept) < len(frames) / 2, (len(kept), len(frames))


@pytest.mark.parametrize("flavour", ["advanced", "legacy"])
def test_filters_by_event(manager: list[Section], flavour: str) -> None:
    filters, regexes = advanced_filters(manager), legacy_filters()

    def keep(pairs: list[tuple[str, str]]) -> bool:
        f = Frame.from_pairs([("Event", pairs[0][1]), ("Privilege", "call,all"), *pairs[1:]])
        return passes_advanced(f, filters) if flavour == "advanced" else passes_legacy(f, regexes)

    # Every event the translator handles passes (QueueMember is a QueueStatus list item, not
    # an event; QueueMemberPaused is the pre-13 name of QueueMemberPause).
    handled = set(AmiTranslator()._handlers) - {"queuemember", "queuememberpaused", "varset", "userevent"}
    names = {n.lower(): n for n in (
        "Newchannel", "Newstate", "DialState", "Hangup", "OriginateResponse", "QueueCallerJoin",
        "QueueCallerAbandon", "AgentCalled", "AgentRingNoAnswer", "AgentConnect", "AgentComplete",
        "QueueMemberAdded", "QueueMemberRemoved", "QueueMemberStatus", "QueueMemberPause")}
    assert handled == set(names), handled ^ set(names)
    for n in [*names.values(), "QueueCallerLeave", "FullyBooted", "Shutdown"]:
        assert keep([("Event", n), ("Channel", "Local/1@x-1;1")]), n
    for var in ("DIALER_CALL_ID", "AMDSTATUS", "AMDCAUSE"):
        assert keep([("Event", "VarSet"), ("Channel", "x"), ("Variable", var), ("Value", "v")]), var
    for var in ("DIALER_QUEUE", "AMDSTATUS_X", "QUEUESTATUS", "BRIDGEPEER", "XDIALER_CALL_ID"):
        assert not keep([("Event", "VarSet"), ("Channel", "x"), ("Variable", var), ("Value", "v")]), var
    for ue in ("DialerAMD", "DialerQueueResult", "DialerEscalate"):
        assert keep([("Event", "UserEvent"), ("Channel", "x"), ("UserEvent", ue), ("CallID", "c")]), ue
    assert not keep([("Event", "UserEvent"), ("UserEvent", "Other")])
    for n in ("Newexten", "HangupRequest", "SoftHangupRequest", "DeviceStateChange", "NewCallerid",
              "NewConnectedLine", "LocalBridge", "DialBegin", "DialEnd", "BridgeEnter", "MusicOnHoldStart",
              "RTCPSent", "QueueMemberPenalty", "MixMonitorStart"):
        assert not keep([("Event", n), ("Channel", "x")]), n


# --- amd.conf and queues.conf ----------------------------------------------------------------

def test_amd_defaults_are_asterisks_documented_defaults() -> None:
    amd = section(parse_conf(AST / "amd.conf"), "general")
    expected = {"total_analysis_time": "5000", "silence_threshold": "256", "initial_silence": "2500",
                "after_greeting_silence": "800", "greeting": "1500", "min_word_length": "100",
                "maximum_word_length": "5000", "between_words_silence": "50", "maximum_number_of_words": "2"}
    assert {k: amd.one(k) for k in expected} == expected
    text = (AST / "amd.conf").read_text(encoding="utf-8")
    for key in expected:  # each value is explained
        assert text.count(key) >= 2, key


def test_campaign_queue(ext_text: str) -> None:
    sections = parse_conf(AST / "queues.conf")
    general = section(sections, "general")
    assert general.one("autofill") == "yes"
    assert general.one("persistentmembers") in ("yes", "no")
    q = section(sections, DEFAULTS.queue)
    assert q.one("ringinuse") == "no"
    assert q.one("timeoutpriority") == "app", "the Queue() argument must cut an agent's ringing short"
    assert int(q.one("wrapuptime")) == DEFAULTS.wrapup_s, "keep the dialer's --wrapup default in step"
    assert int(q.one("retry")) >= 1
    for key in ("announce-frequency", "periodic-announce-frequency"):
        assert q.one(key) == "0"
    for key in ("announce-holdtime", "announce-position", "announce-to-first-user", "reportholdtime"):
        assert q.one(key) == "no"
    for key in ("joinempty", "leavewhenempty"):
        states = set(q.one(key).split(","))
        assert {"paused", "unavailable", "invalid"} <= states, key
        assert not states & {"inuse", "ringing", "wrapup"}, f"{key}: a busy agent may be free within the second"
    assert "Queue(${DIALER_QUEUE}" in ext_text and "Set(DIALER_QUEUE=agents)" in ext_text


def test_shipped_files_and_readme() -> None:
    names = {p.name for p in AST.iterdir()}
    assert {"manager.conf", "extensions.conf", "amd.conf", "queues.conf", "modules.conf", "README.md"} <= names
    readme = (AST / "README.md").read_text(encoding="utf-8")
    assert "docs/asterisk.md" in readme


def test_docs_list_the_events_the_dialer_relies_on(docs: str) -> None:
    for event in ("Newchannel", "Newstate", "DialState", "Hangup", "OriginateResponse", "VarSet", "UserEvent",
                  "DialerAMD", "DialerQueueResult", "QueueCallerJoin", "QueueCallerAbandon", "AgentCalled",
                  "AgentRingNoAnswer", "AgentConnect", "AgentComplete", "QueueMemberAdded", "QueueMemberRemoved",
                  "QueueMemberStatus", "QueueMemberPause", "QueueStatus", "CoreShowChannels"):
        assert event in docs, event
    for flag in ("--channel", "--context", "--exten", "--queue", "--wrapup", "--abandon-after", "--caller-id"):
        assert flag in docs, flag
    assert "_age[n]t." in docs
