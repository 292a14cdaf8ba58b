"""The chart macro (core/_charts.html): what it renders, the scripts it brings, and that the
charting library is the app's own file, not a CDN's."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from flask import render_template_string

from lms.compliance import rollups
from lms.core.actors import DEMO
from lms.core.web import CSP
from lms.extensions import db

BAR = {"labels": ["小橡树托育中心", "阳光<托育>园"], "values": [100.0, 50.0], "target": 80.0,
       "unit": "%"}
TREND = {"labels": ["2026-01", "2026-02", "2026-03"],
         "series": [{"name": "玄武区", "values": [60.0, 70.0, None]},
                    {"name": "鼓楼区", "values": [90.0, 85.0, 95.5]}], "target": 100.0}


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.charts, self.scripts, self.urls = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "lms-chart" in (attrs.get("class") or "").split():
            self.charts.append(attrs)
        if tag == "script":
            self.scripts.append(attrs.get("src"))
        for name in ("src", "href", "action"):
            if attrs.get(name):
                self.urls.append(attrs[name])


def _render(app, source, **context):
    with app.test_request_context("/"):
        html = render_template_string(
            '{% extends "base.html" %}{% from "core/_charts.html" import chart %}'
            "{% block content %}" + source + "{% endblock %}", **context)
    page = _Page()
    page.feed(html)
    return html, page


def test_chart_macro_carries_the_data_and_a_table_of_the_same_numbers(app):
    html, page = _render(app, '{{ chart("c1", "bar-target", bar, "认证率") }}'
                              '{{ chart("c2", "line-trend", trend, "逐月") }}',
                         bar=BAR, trend=TREND)
    bar, trend = page.charts
    assert (bar["id"], bar["data-chart-kind"], bar["role"], bar["aria-label"]) == \
        ("c1", "bar-target", "img", "认证率")
    # the data survives the attribute round trip, markup in a name included
    assert json.loads(bar["data-chart-data"]) == BAR
    assert json.loads(trend["data-chart-data"]) == TREND
    assert "阳光&lt;托育&gt;园" in html and "阳光<托育>园" not in html
    # screen readers (and readers without JavaScript) get the numbers as a table
    table = html.split('id="c1-table"')[1].split("</table>")[0]
    assert '<div class="visually-hidden">\n<table class="lms-chart-table" id="c1-table">' in html
    assert re.search(r"阳光&lt;托育&gt;园</th><td>50.0%</td><td>80.0%", table)
    trend_table = html.split('id="c2-table"')[1].split("</table>")[0]
    assert re.search(r"2026-02</th><td>70.0</td><td>85.0</td>", trend_table)
    assert re.search(r"2026-03</th><td></td><td>95.5</td>", trend_table)


def test_chart_scripts_come_once_and_only_with_a_chart(app):
    _html, page = _render(app, '{{ chart("a", "bar-target", bar, "a") }}'
                               '{{ chart("b", "bar-target", bar, "b") }}', bar=BAR)
    echarts = [s for s in page.scripts if s and "echarts" in s]
    assert echarts == ["/static/vendor/echarts/echarts.min.js"]
    assert page.scripts.count("/static/charts.js") == 1
    # ECharts before the code that uses it (both deferred: they run in document order)
    assert page.scripts.index(echarts[0]) < page.scripts.index("/static/charts.js")
    _html, plain = _render(app, "<p>no chart</p>")
    assert not [s for s in plain.scripts if s and ("echarts" in s or "charts.js" in s)]


def test_the_charting_library_is_served_by_the_app(app, client, world, login_as):
    response = client.get("/static/vendor/echarts/echarts.min.js")
    assert response.status_code == 200
    assert response.mimetype in ("text/javascript", "application/javascript")
    assert b"echarts" in response.data[:2000] and len(response.data) > 500_000
    # static files are not personal data: cacheable, unlike the pages (no-store)
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert response.headers.get("ETag") or response.headers.get("Last-Modified")
    response.close()
    # a page with a chart refers to nothing outside the app, and sends the strict policy
    rollups.refresh(DEMO, full=True)
    db.session.commit()
    login_as("regulator")
    response = client.get("/compliance")
    assert response.headers["Content-Security-Policy"] == CSP
    page = _Page()
    page.feed(response.get_data(as_text=True))
    assert "/static/vendor/echarts/echarts.min.js" in page.scripts
    # the district regulator's chart: their district's one institution, nobody certified yet
    rates = next(c for c in page.charts if c["id"] == "chart-rates")
    data = json.loads(rates["data-chart-data"])
    assert {k: data[k] for k in ("labels", "values", "target", "unit")} == {
        "labels": ["小橡树托育中心"], "values": [0.0], "target": 100.0, "unit": "%"}
    external = [u for u in page.urls if re.match(r"^(https?:)?//", u)]
    assert external == []
    assert "script-src 'self';" in CSP and "style-src 'self';" in CSP


def test_the_city_regulator_charts_each_district(client, world, login_as):
    rollups.refresh(DEMO, full=True)
    db.session.commit()
    login_as("regulator_city")
    page = _Page()
    page.feed(client.get("/compliance").get_data(as_text=True))
    charts = {c["id"]: json.loads(c["data-chart-data"]) for c in page.charts}
    assert sorted(charts["chart-rates"]["labels"]) == sorted(["玄武区", "鼓楼区"])
    assert charts["chart-trend"]["series"]  # this year's months, one line per rate
