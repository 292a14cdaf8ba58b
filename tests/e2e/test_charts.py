"""Charts in a real browser, under the app's Content-Security-Policy.

A district regulator opens the institutions page at desktop and phone size: ECharts (served
by the app) draws the certified share of each institution on a canvas, the institution below
the target in another colour; pointing at a bar (a tap on the phone) shows a tooltip naming
the institution and its share; the browser reports no CSP violation and loads nothing from
another host.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from lms.compliance import rollups
from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.models import District, Person
from tests.factories import credit_code, id_number
from tests.helpers import VIEWPORTS, axe_check, no_horizontal_overflow, qtype, sign_in

pytestmark = pytest.mark.e2e

#: collects what the browser refuses under the page's policy, from the first script on
CSP_LISTENER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push({directive: e.violatedDirective, blocked: e.blockedURI,
                     sample: e.sample, source: e.sourceFile + ':' + e.lineNumber});
});
"""

FULL, HALF = "小橡树托育中心", "阳光托育园"


@pytest.fixture()
def chart_world(app, e2e_world):
    """Xuanwu's two institutions: 小橡树 with its one carer certified (100%, the target),
    阳光 with one of two certified (50%, below it)."""
    with app.app_context():
        xuanwu = db.session.scalars(db.select(District).where(District.code == "320102")).one()
        issued = local_today() - timedelta(days=30)

        def certify(person, n):
            registry.add_qualification(DEMO, person, qtype("baoyushi"), issued_on=issued, level=5,
                                       certificate_no=f"E2E-{n}", issuer="实训基地")

        certify(db.session.scalars(db.select(Person).where(Person.name == "张晓雯")).one(), 1)
        sunshine = registry.create_organisation(DEMO, kind="institution", name=HALF,
                                                district=xuanwu, credit_code=credit_code(40))
        for seq, name in ((41, "陈一"), (42, "林二")):
            added = registry.add_staff(DEMO, sunshine, id_number=id_number("320102", "19910101", seq * 2),
                                       name=name, post="nursery_carer", start_date=date(2025, 1, 1))
            if seq == 41:
                certify(added.employment.person, seq)
        db.session.commit()
        rollups.refresh(DEMO, full=True)  # the dashboard reads the snapshots
        db.session.commit()
        yield xuanwu.id


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request) -> str:
    return request.param


def _chart(page, chart_id: str, script: str, arg=None):
    """Run `script` (a function of the ECharts instance and `arg`) in the page."""
    return page.evaluate(f"""([id, arg]) => {{
        const chart = echarts.getInstanceByDom(document.getElementById(id));
        return ({script})(chart, arg);
    }}""", [chart_id, arg])


def _pixels(page, chart_id: str) -> dict:
    """How many of the canvas's pixels are painted at all, in the bars' blue, in the red."""
    return page.evaluate("""([id]) => {
        const canvas = document.getElementById(id).querySelector('canvas');
        const ctx = canvas.getContext('2d');
        const {data} = ctx.getImageData(0, 0, canvas.width, canvas.height);
        const css = getComputedStyle(document.documentElement);
        const rgb = (name) => { const h = css.getPropertyValue(name).trim().slice(1);
                                return [0, 2, 4].map(i => parseInt(h.slice(i, i + 2), 16)); };
        const [ok, below] = [rgb('--bs-primary'), rgb('--bs-danger')];
        const near = (i, c) => Math.abs(data[i] - c[0]) + Math.abs(data[i + 1] - c[1])
                               + Math.abs(data[i + 2] - c[2]) < 24;
        let painted = 0, blue = 0, red = 0;
        for (let i = 0; i < data.length; i += 4) {
            if (data[i + 3] === 0) continue;
            painted++;
            if (near(i, ok)) blue++;
            if (near(i, below)) red++;
        }
        return {painted, blue, red, total: data.length / 4};
    }""", [chart_id])


def test_regulator_sees_the_certified_share_chart_without_csp_violations(
        new_context, chart_world, base_url, viewport, results_dir):
    context = new_context(locale="zh-CN", **VIEWPORTS[viewport])
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.set_default_timeout(10_000)
    console, requests = [], []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
    page.on("request", lambda r: requests.append(r.url))

    sign_in(page, "regulator")
    page.goto("/compliance")  # the district's institutions, certified share against the target
    chart_id = "chart-rates"
    chart = page.locator(f"#{chart_id}")
    expect(chart).to_have_attribute("role", "img")
    chart.scroll_into_view_if_needed()  # the pointer can only reach what is on the screen
    page.wait_for_function("(id) => window.echarts && echarts.getInstanceByDom(document.getElementById(id))",
                           arg=chart_id)
    # the chart fills its box on this screen, the canvas as wide as the chart
    box = chart.bounding_box()
    assert box and box["width"] <= VIEWPORTS[viewport]["viewport"]["width"]
    canvas = chart.locator("canvas")
    expect(canvas).to_have_count(1)
    assert abs(canvas.bounding_box()["width"] - box["width"]) < 2
    labels = _chart(page, chart_id, "(c) => c.getOption().xAxis[0].data")
    assert sorted(labels) == sorted([FULL, HALF])
    # drawn: once the bars have grown, there is blue (at the target) and red (below it)
    for _ in range(30):  # the bars grow for a second
        pixels = _pixels(page, chart_id)
        if pixels["blue"] > 200 and pixels["red"] > 100:
            break
        page.wait_for_timeout(100)
    assert pixels["painted"] > pixels["total"] * 0.05, pixels
    assert pixels["blue"] > 200 and pixels["red"] > 100, pixels

    # point at each bar: the tooltip names the institution and its share
    tooltip = chart.locator(".lms-chart-tooltip")
    for index, name in enumerate(labels):
        share = "100%" if name == FULL else "50%"
        x, y = _chart(page, chart_id, "(c, i) => c.convertToPixel({seriesIndex: 0}, [i, 25])", index)
        origin = chart.bounding_box()
        if viewport == "phone":
            page.touchscreen.tap(origin["x"] + x, origin["y"] + y)
        else:
            page.mouse.move(origin["x"] + x, origin["y"] + y)
        expect(tooltip).to_be_visible()
        expect(tooltip.locator(".lms-chart-tip-title")).to_have_text(name)
        expect(tooltip.locator(".lms-chart-tip-value")).to_have_text(share)
        expect(tooltip.locator(".lms-chart-tip-target")).to_contain_text("100%")
        row = tooltip.locator(".lms-chart-tip-row")
        expect(row).to_have_class("lms-chart-tip-row " + ("lms-chart-tip-below" if share == "50%"
                                                          else "lms-chart-tip-ok"))
    # the tooltip stays on the screen
    tip = tooltip.bounding_box()
    assert tip["x"] >= 0 and tip["x"] + tip["width"] <= VIEWPORTS[viewport]["viewport"]["width"] + 0.5
    page.screenshot(path=str(results_dir / f"charts-{viewport}.png"), full_page=True)

    # screen readers get the same numbers as a table
    table = page.locator(f"#{chart_id}-table")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody")).to_contain_text("50.0%")

    # nothing refused by the policy, nothing fetched from another host
    assert page.evaluate("window.__csp") == []
    assert not [m for m in console if "Content Security Policy" in m or m.startswith("pageerror")], console
    assert requests and all(u.startswith(base_url + "/") or u.startswith("data:") for u in requests), requests
    if viewport == "phone":
        no_horizontal_overflow(page)
    axe_check(page, base_url, f"institutions chart ({viewport})", [])

    # the chart follows the window: narrower, and the canvas with it
    width = VIEWPORTS[viewport]["viewport"]["width"] - 100
    page.set_viewport_size({"width": width, "height": 800})
    page.wait_for_function("""([id, width]) => {
        const el = document.getElementById(id);
        return el.clientWidth < width && Math.abs(el.querySelector('canvas').clientWidth - el.clientWidth) < 2;
    }""", arg=[chart_id, width])
    for _ in range(30):  # redrawn at the new size (growing again if the axis labels changed)
        if _pixels(page, chart_id)["blue"] > 50:
            break
        page.wait_for_timeout(100)
    assert _pixels(page, chart_id)["blue"] > 50  # (the red bar is the one pointed at: lighter)

    # and the listener would have told: a style attribute written as HTML is refused
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<span style=\"color:red\">x</span>')")
    page.wait_for_function("window.__csp.length > 0")
    assert page.evaluate("window.__csp[0].directive").startswith("style-src")


TREND = {"labels": ["2026-01", "2026-02", "2026-03", "2026-04"],
         "series": [{"name": "玄武区", "values": [60.0, 72.5, 80.0, 91.0]},
                    {"name": "鼓楼区", "values": [85.0, 88.0, None, 97.0]}],
         "target": 90.0, "unit": "%"}


def test_month_by_month_lines_with_the_target(new_context, e2e_world, e2e_app, base_url, viewport):
    """The line-trend kind, as the macro renders it, drawn on a page that loads the charts."""
    from flask import render_template_string

    with e2e_app.test_request_context("/"):
        markup = render_template_string('{% from "core/_charts.html" import chart %}'
                                        '{{ chart("trend", "line-trend", data, "逐月持证率") }}',
                                        data=TREND)
    context = new_context(locale="zh-CN", **VIEWPORTS[viewport])
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.set_default_timeout(10_000)
    console = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
    sign_in(page, "regulator")
    page.goto("/compliance")
    page.wait_for_function("() => window.LmsCharts")
    page.evaluate("""(markup) => {
        document.querySelector('main').insertAdjacentHTML('afterbegin', markup);
        LmsCharts.draw(document.getElementById('trend'));
    }""", markup)
    chart = page.locator("#trend")
    expect(chart.locator("canvas")).to_have_count(1)
    option = _chart(page, "trend", """(c) => { const o = c.getOption();
        return {months: o.xAxis[0].data, names: o.series.map(s => s.name),
                target: o.series[0].markLine.data[0].yAxis}; }""")
    assert option == {"months": TREND["labels"], "names": ["玄武区", "鼓楼区"], "target": 90}
    page.wait_for_timeout(1200)  # the lines' drawing animation
    assert _pixels(page, "trend")["blue"] > 50  # the first series, in the primary colour

    x, y = _chart(page, "trend", "(c) => c.convertToPixel({seriesIndex: 0}, [1, 72.5])")
    origin = chart.bounding_box()
    if viewport == "phone":
        page.touchscreen.tap(origin["x"] + x, origin["y"] + y)
    else:
        page.mouse.move(origin["x"] + x, origin["y"] + y)
    tooltip = chart.locator(".lms-chart-tooltip")
    expect(tooltip).to_be_visible()
    expect(tooltip.locator(".lms-chart-tip-title")).to_have_text("2026-02")
    expect(tooltip.locator(".lms-chart-tip-name")).to_have_text(["玄武区", "鼓楼区"])
    expect(tooltip.locator(".lms-chart-tip-value")).to_have_text(["72.5%", "88%"])
    expect(tooltip.locator(".lms-chart-tip-target")).to_contain_text("90%")
    expect(page.locator("#trend-table tbody tr")).to_have_count(4)
    assert page.evaluate("window.__csp") == []
    assert not [m for m in console if "Content Security Policy" in m or m.startswith("pageerror")], console
    if viewport == "phone":
        no_horizontal_overflow(page)


def test_a_district_of_many_institutions_scrolls_inside_the_chart_on_a_phone(
        new_context, app, e2e_world, base_url):
    """Thirty institutions with long names on a 375 px screen: the chart shows some bars and
    a slider for the rest; nothing, the hidden table included, widens the page."""
    with app.app_context():
        xuanwu = db.session.scalars(db.select(District).where(District.code == "320102")).one()
        for n in range(30):
            registry.create_organisation(DEMO, kind="institution", district=xuanwu,
                                         name=f"南京市玄武区第{n:02d}号阳光宝贝托育中心",
                                         credit_code=credit_code(100 + n))
        db.session.commit()
        rollups.refresh(DEMO, full=True)
        db.session.commit()
        chart_id = "chart-rates"
    context = new_context(locale="zh-CN", **VIEWPORTS["phone"])
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, "regulator")
    page.goto("/compliance")
    page.wait_for_function("(id) => window.echarts && echarts.getInstanceByDom(document.getElementById(id))",
                           arg=chart_id)
    zoom = _chart(page, chart_id, """(c) => c.getOption().dataZoom.map(
        z => ({type: z.type, end: z.endValue}))""")
    assert [z["type"] for z in zoom] == ["inside", "slider"] and zoom[0]["end"] < 30, zoom
    expect(page.locator(f"#{chart_id}-table tbody tr")).to_have_count(31)
    no_horizontal_overflow(page)
    assert page.evaluate("window.__csp") == []
