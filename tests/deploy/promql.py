"""Just enough PromQL lexing to list the metric names an expression reads.

promtool checks that an expression parses but cannot say which series it selects, and a
dashboard panel that names a metric the dialer does not export is the usual way a dashboard
rots: it parses, it draws nothing. So the tests lex each expression (after promtool has
accepted it) and compare the names with what `/metrics` really exposes.

Grafana template variables are not PromQL: `substitute_grafana_vars` replaces them with
plausible values first, and refuses any it does not know, so a typo fails loudly.
"""

from __future__ import annotations

import re

# Modifiers followed by a parenthesised label list, which must not be read as metric names.
_LABEL_LIST = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_KEYWORDS = frozenset({
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
    # aggregation operators may be followed by `by (...)` before their parenthesis
    "sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "limitk", "limit_ratio",
})
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(r"[0-9.][0-9A-Za-z_.]*")
_NAME_MATCHER = re.compile(r"""__name__\s*(=~|!=|!~|=)\s*(["'`])(.*?)\2""")


class PromQLLexError(ValueError):
    pass


def _skip_string(expr: str, i: int) -> int:
    quote = expr[i]
    i += 1
    while i < len(expr):
        if expr[i] == "\\" and quote != "`":
            i += 2
            continue
        if expr[i] == quote:
            return i + 1
        i += 1
    raise PromQLLexError(f"unterminated string in {expr!r}")


def _skip_group(expr: str, i: int, open_: str, close: str) -> tuple[int, str]:
    """From expr[i] == open_, return the index after the matching close and the inside."""
    depth, j = 0, i
    while j < len(expr):
        c = expr[j]
        if c in "\"'`":
            j = _skip_string(expr, j)
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return j + 1, expr[i + 1:j]
        j += 1
    raise PromQLLexError(f"unbalanced {open_!r} in {expr!r}")


def _next_char(expr: str, i: int) -> tuple[int, str]:
    while i < len(expr) and expr[i].isspace():
        i += 1
    return i, expr[i] if i < len(expr) else ""


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: bare names before an optional `{...}`, and
    `{__name__="..."}` matchers. Function names, keywords, label names in `by (...)` and
    matchers, strings and durations are not metric names."""
    names: set[str] = set()
    i = 0
    while i < len(expr):
        c = expr[i]
        if c.isspace():
            i += 1
        elif c == "#":
            nl = expr.find("\n", i)
            i = len(expr) if nl < 0 else nl + 1
        elif c in "\"'`":
            i = _skip_string(expr, i)
        elif c == "{":
            i, inside = _skip_group(expr, i, "{", "}")
            for op, _, value in _NAME_MATCHER.findall(inside):
                if op != "=":
                    raise PromQLLexError(f"__name__{op} selects unknown names: {expr!r}")
                names.add(value)
        elif c == "[":
            i, _ = _skip_group(expr, i, "[", "]")
        elif c.isdigit() or (c == "." and expr[i + 1:i + 2].isdigit()):
            i = _NUMBER.match(expr, i).end()  # type: ignore[union-attr]
        elif m := _IDENT.match(expr, i):
            word = m.group()
            i = m.end()
            j, nxt = _next_char(expr, i)
            if word in _LABEL_LIST:
                if nxt == "(":
                    i, _ = _skip_group(expr, j, "(", ")")
            elif word.lower() in _KEYWORDS or nxt == "(":
                pass  # operator, keyword or function call
            else:
                names.add(word)
        else:
            i += 1
    return names


# Grafana's built-in interval variables all stand for a duration.
_GRAFANA_DURATIONS = {"__rate_interval": "5m", "__interval": "1m", "__range": "6h"}
_VAR = re.compile(r"\$(?:\{(\w+)(?::[\w]+)?\}|(\w+))|\[\[(\w+)\]\]")


def substitute_grafana_vars(expr: str, values: dict[str, str]) -> str:
    """Replace `$var`, `${var}`, `${var:fmt}` and `[[var]]` with a value; unknown names raise."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name in _GRAFANA_DURATIONS:
            return _GRAFANA_DURATIONS[name]
        if name in values:
            return values[name]
        raise KeyError(f"template variable ${name} is not defined by the dashboard: {expr!r}")

    return _VAR.sub(repl, expr)
