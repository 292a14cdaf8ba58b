// Charts: every <div class="lms-chart"> rendered by the chart macro (core/_charts.html),
// drawn by Apache ECharts on a canvas. The page's Content-Security-Policy forbids inline
// styles, so nothing here writes a style attribute or HTML carrying one: the tooltip is built
// from DOM nodes with classes (app.css), and ECharts itself only styles elements through the
// CSSOM (element.style), which the policy allows. The tooltip is confined to the chart and
// triggered by axis: ECharts' tooltip arrow is HTML with a style attribute, and it is only
// drawn for an unconfined item tooltip.
(() => {
  "use strict";
  if (!window.echarts) return;

  const css = getComputedStyle(document.documentElement);
  const bs = (name, fallback) => (css.getPropertyValue(`--bs-${name}`) || "").trim() || fallback;
  const palette = {
    ok: bs("primary", "#0d6efd"),
    below: bs("danger", "#dc3545"),
    target: bs("emphasis-color", "#000"),
    text: bs("body-color", "#212529"),
    muted: bs("secondary-color", "rgba(33,37,41,.75)"),
    border: bs("border-color", "#dee2e6"),
    background: bs("body-bg", "#fff"),
    font: bs("body-font-family", "sans-serif"),
  };
  // line colours, in the order of the .lms-chart-s0… swatch classes in app.css
  const SERIES = ["primary", "orange", "teal", "purple", "pink", "cyan", "indigo", "green"]
    .map((name) => bs(name, "#0d6efd"));
  const number = new Intl.NumberFormat(document.documentElement.lang || undefined,
                                       {maximumFractionDigits: 1});
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  const node = (tag, className, text) => {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  };
  const format = (value, unit) => (value === null || value === undefined
    ? "–" : number.format(value) + (unit || ""));

  function tooltipRow(swatchClass, name, value) {
    const row = node("div", "lms-chart-tip-row");
    row.append(node("span", `lms-chart-swatch ${swatchClass}`), node("span", "lms-chart-tip-name", name),
               node("span", "lms-chart-tip-value", value));
    return row;
  }

  function tooltip(kind, data, text) {
    return (params) => {
      const items = Array.isArray(params) ? params : [params];
      const box = node("div", "lms-chart-tip");
      if (!items.length) return box;
      const index = items[0].dataIndex;
      box.append(node("div", "lms-chart-tip-title", data.labels[index]));
      if (kind === "bar-target") {
        const value = data.values[index];
        const below = value < data.target;
        const row = tooltipRow(below ? "lms-chart-below" : "lms-chart-ok",
                               below ? text.below : text.meets, format(value, data.unit));
        row.classList.add(below ? "lms-chart-tip-below" : "lms-chart-tip-ok");
        box.append(row);
      } else {
        items.forEach((item) => box.append(
          tooltipRow(`lms-chart-s${item.seriesIndex % SERIES.length}`, item.seriesName,
                     format(item.value, data.unit))));
      }
      if (data.target !== null && data.target !== undefined) {
        box.append(node("div", "lms-chart-tip-target", `${text.target}: ${format(data.target, data.unit)}`));
      }
      return box;
    };
  }

  function targetLine(data, text) {
    if (data.target === null || data.target === undefined) return undefined;
    return {
      silent: true,
      symbol: "none",
      lineStyle: {color: palette.target, type: "dashed", width: 2},
      label: {position: "insideEndTop", color: palette.text,
              formatter: `${text.target} ${format(data.target, data.unit)}`},
      data: [{yAxis: data.target}],
    };
  }

  // category labels that fit: straight when there is room, slanted and cut short when not
  function categoryAxis(labels, width, boundaryGap) {
    const shown = Math.max(1, Math.min(labels.length, Math.floor(width / 36)));
    const room = (width * 0.85) / shown;
    const slant = room < 88;
    return {
      axis: {
        type: "category", data: labels, boundaryGap,
        axisLine: {lineStyle: {color: palette.border}},
        axisTick: {alignWithLabel: true},
        axisLabel: {color: palette.text, interval: 0, rotate: slant ? 40 : 0,
                    width: slant ? 84 : room - 8, overflow: "truncate", hideOverlap: true},
      },
      zoom: labels.length > shown
        ? [{type: "inside", startValue: 0, endValue: shown - 1, zoomLock: false},
           {type: "slider", startValue: 0, endValue: shown - 1, height: 16, bottom: 4,
            showDetail: false, brushSelect: false, borderColor: palette.border}]
        : [],
      bucket: `${shown}:${slant}`,
    };
  }

  function valueAxis(data, values) {
    const axis = {type: "value", min: 0,
                  axisLabel: {color: palette.muted, formatter: (v) => format(v, data.unit)},
                  splitLine: {lineStyle: {color: palette.border}}};
    const top = Math.max(data.target || 0, ...values.filter((v) => v !== null && v !== undefined));
    // a share runs to 100%; anything else at least to the target, so its line is in view
    if (data.unit === "%" && top <= 100) axis.max = 100;
    else axis.max = (extent) => Math.max(extent.max, data.target || 0);
    return axis;
  }

  function option(kind, data, text, width) {
    const category = categoryAxis(data.labels, width, kind === "bar-target");
    const common = {
      animation: !reducedMotion,
      textStyle: {fontFamily: palette.font},
      grid: {left: 8, right: 16, top: 28, bottom: category.zoom.length ? 32 : 8, containLabel: true},
      tooltip: {
        trigger: "axis", confine: true, renderMode: "html", className: "lms-chart-tooltip",
        axisPointer: {type: kind === "bar-target" ? "shadow" : "line"},
        backgroundColor: palette.background, borderColor: palette.border, borderWidth: 1,
        padding: [6, 10], textStyle: {color: palette.text, fontFamily: palette.font},
        extraCssText: "", formatter: tooltip(kind, data, text),
      },
      xAxis: category.axis,
      dataZoom: category.zoom,
    };
    if (kind === "bar-target") {
      return {...common,
        yAxis: valueAxis(data, data.values),
        series: [{
          type: "bar", name: text.target, barMaxWidth: 48,
          data: data.values.map((value) => ({
            value,
            itemStyle: value < data.target
              // below the target: red, and hatched so the difference does not rest on colour
              ? {color: palette.below, decal: {symbol: "rect", dashArrayX: [1, 0],
                                               dashArrayY: [3, 5], rotation: -Math.PI / 4,
                                               color: "rgba(255,255,255,.45)"}}
              : {color: palette.ok},
          })),
          markLine: targetLine(data, text),
        }],
      };
    }
    const all = data.series.flatMap((s) => s.values);
    return {...common,
      legend: {top: 0, type: "scroll", textStyle: {color: palette.text}},
      grid: {...common.grid, top: 36},
      yAxis: valueAxis(data, all),
      series: data.series.map((s, i) => ({
        type: "line", name: s.name, data: s.values, connectNulls: false, symbolSize: 6,
        itemStyle: {color: SERIES[i % SERIES.length]},
        lineStyle: {width: 2},
        markLine: i === 0 ? targetLine(data, text) : undefined,
      })),
    };
  }

  function draw(el) {
    if (window.echarts.getInstanceByDom(el)) return;
    const kind = el.dataset.chartKind;
    const data = JSON.parse(el.dataset.chartData);
    const text = JSON.parse(el.dataset.chartText || "{}");
    const chart = window.echarts.init(el, null, {renderer: "canvas"});
    let bucket = null;
    const render = () => {
      const width = el.clientWidth || 300;
      const next = categoryAxis(data.labels, width, kind === "bar-target").bucket;
      if (next !== bucket) {
        bucket = next;
        chart.setOption(option(kind, data, text, width), true);
      }
      chart.resize();
    };
    render();
    if (window.ResizeObserver) {
      new ResizeObserver(render).observe(el);
    } else {
      window.addEventListener("resize", render);
    }
  }

  // a chart added to the page later (or by a test) is drawn with LmsCharts.draw(element)
  window.LmsCharts = {draw};
  const start = () => document.querySelectorAll(".lms-chart[data-chart-kind]").forEach(draw);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
