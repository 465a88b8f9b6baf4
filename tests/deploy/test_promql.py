"""The PromQL name lexer the dashboard and rule checks rely on: if it missed names, those
checks would pass for the wrong reason."""

from __future__ import annotations

import pytest

from .promql import PromQLLexError, metric_names, substitute_grafana_vars


@pytest.mark.parametrize(("expr", "names"), [
    ("up", {"up"}),
    ('up{job="dialer"} == 0', {"up"}),
    ("sum by (campaign) (rate(dialer_calls_originated_total{campaign=~\"c1|c2\"}[5m])) * 60",
     {"dialer_calls_originated_total"}),
    ("sum(rate(a_total[5m])) by (le, campaign)", {"a_total"}),
    ("histogram_quantile(0.99, sum by (le) (rate(dialer_pacing_decision_seconds_bucket[1m])))",
     {"dialer_pacing_decision_seconds_bucket"}),
    ("a:b:ratio_rate1h > on (campaign) (0.8 * c:d:max) and on(campaign) e:f:g >= 30",
     {"a:b:ratio_rate1h", "c:d:max", "e:f:g"}),
    ("x * on (a) group_left (b, c) y", {"x", "y"}),
    ("x unless x offset 5m", {"x"}),
    ("rate(x[1h:30s] @ start())", {"x"}),
    ('{__name__="dialer_outbox_depth", job="dialer"}', {"dialer_outbox_depth"}),
    ('label_replace(up, "dst", "$1 sum", "instance", "(.*):.*")', {"up"}),
    ("count_values(\"kernel\", x) or vector(0)", {"x"}),
    ("topk(3, x) > bool 1e-5", {"x"}),
    ("sum without (instance) (x)  # a comment naming not_a_metric\n", {"x"}),
    ("max by (kernel, version) (dialer_build_info)", {"dialer_build_info"}),
])
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_regex_name_matcher_is_refused() -> None:
    with pytest.raises(PromQLLexError):
        metric_names('{__name__=~"dialer_.*"}')


def test_substitute_grafana_vars() -> None:
    expr = 'rate(x{campaign=~"$campaign", pbx=~"${pbx}"}[$__rate_interval]) + y[[[campaign]]]'
    got = substitute_grafana_vars(expr, {"campaign": "c1", "pbx": "default"})
    assert got == 'rate(x{campaign=~"c1", pbx=~"default"}[5m]) + y[c1]'


def test_unknown_grafana_var_fails() -> None:
    with pytest.raises(KeyError, match=r"\$campain"):
        substitute_grafana_vars('x{campaign=~"$campain"}', {"campaign": "c1"})
