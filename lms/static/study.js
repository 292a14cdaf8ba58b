// The study clock on a lesson page. The server decides what is credited; this page only
// reports, every few seconds, that it is visible and its learner active.
(() => {
  "use strict";
  const panel = document.getElementById("study");
  if (!panel) return;
  const d = panel.dataset;
  const interval = Number(d.interval) * 1000;
  const idleLimit = Number(d.idleSeconds) * 1000;
  const statusEl = document.getElementById("study-status");
  const bar = document.getElementById("study-progress");
  const timeEl = document.getElementById("study-time");
  const elsewhere = document.getElementById("study-elsewhere");
  const check = document.getElementById("study-check");
  const checkQuestion = document.getElementById("study-check-question");
  const checkOptions = document.getElementById("study-check-options");
  const checkForm = document.getElementById("study-check-form");
  const checkError = document.getElementById("study-check-error");
  const video = document.getElementById("study-video");
  let token = null;
  let seq = 0;
  let timer = null;
  let hiddenSince = null;
  let checking = false;
  let finished = false;
  let lastActivity = Date.now();
  let furthest = video ? Number(video.dataset.furthest || 0) : 0;

  const setStatus = (text) => { statusEl.textContent = text; };
  const minutes = (s) => Math.floor(s / 60);

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin", keepalive: true,
      headers: { "Content-Type": "application/json", "X-CSRFToken": d.csrf },
      body: JSON.stringify(body),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    return { status: response.status, data };
  }

  function show(data) {
    if (typeof data.lesson_seconds === "number") {
      bar.value = data.lesson_seconds;
      timeEl.textContent = d.msgMinutes.replace("{done}", minutes(data.lesson_seconds))
        .replace("{total}", minutes(data.required_seconds || bar.max));
    }
    const messages = { running: d.msgRunning, paused: d.msgPaused, complete: d.msgComplete,
      capped: d.msgCapped };
    let text = messages[data.state] || statusEl.textContent;
    if (data.lesson_credited) text = d.msgComplete + " " + d.msgCredited;
    setStatus(text);
    if (data.lesson_credited) finished = true;
    if (data.state === "challenge" && data.challenge) showCheck(data.challenge);
  }

  function schedule() {
    clearTimeout(timer);
    if (!finished || (video && !video.paused)) timer = setTimeout(tick, interval);
  }

  function superseded(yes) {
    elsewhere.hidden = !yes;
    if (yes) { token = null; setStatus(d.msgSuperseded); clearTimeout(timer); }
  }

  async function start() {
    const { status, data } = await post(d.startUrl, {});
    if (status !== 200) { setStatus(data.error || d.msgError); return; }
    token = data.token; seq = 0; finished = false;
    superseded(false);
    furthest = Math.max(furthest, data.video_furthest || 0);
    show(Object.assign({ state: "running" }, data));
    schedule();
  }

  async function beat(active) {
    if (!token) return;
    seq += 1;
    const body = { token, seq, active };
    if (video) body.position = Math.min(video.currentTime, furthest + 1);
    try {
      const { status, data } = await post(d.beatUrl, body);
      if (data.state === "superseded") { superseded(true); return; }
      if (status !== 200) { setStatus(data.error || d.msgError); return; }
      show(data);
    } catch (e) {
      setStatus(d.msgError);
    }
  }

  async function tick() {
    if (!token || checking) return;
    if (document.visibilityState !== "visible") { schedule(); return; }
    const watching = video && !video.paused && !video.ended;
    if (!watching && Date.now() - lastActivity > idleLimit) { await goIdle(); return; }
    await beat(true);
    schedule();
  }

  async function goIdle() {
    const { data } = await post(d.idleUrl, { token });
    if (data.state === "superseded") { superseded(true); return; }
    showCheck(data.challenge);
  }

  // The question about the lesson: its options as radio buttons (one answer) or checkboxes
  // (several), built as DOM nodes (never HTML), true/false in the page's language.
  function renderQuestion(question) {
    checkQuestion.textContent = question.stem;
    checkOptions.replaceChildren();
    const multiple = question.kind === "multiple";
    const labels = question.kind === "truefalse" ? [d.msgTrue, d.msgFalse] : question.options;
    labels.forEach((text, index) => {
      const wrap = document.createElement("div");
      wrap.className = "form-check";
      const input = document.createElement("input");
      input.className = "form-check-input";
      input.type = multiple ? "checkbox" : "radio";
      input.name = "study-check-option";
      input.value = String(index);
      input.id = "study-check-option-" + index;
      const label = document.createElement("label");
      label.className = "form-check-label";
      label.htmlFor = input.id;
      label.textContent = text;
      wrap.append(input, label);
      checkOptions.append(wrap);
    });
  }

  function showCheck(question) {
    checking = true;
    clearTimeout(timer);
    if (video && !video.paused) video.pause();
    renderQuestion(question);
    checkError.textContent = "";
    check.hidden = false;
    const first = checkOptions.querySelector("input");
    if (first) first.focus();
  }

  checkForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = Array.from(checkOptions.querySelectorAll("input:checked"), (i) => Number(i.value));
    const { data } = await post(d.answerUrl, { token, answer });
    if (data.state === "superseded") { check.hidden = true; checking = false; superseded(true); return; }
    if (data.state === "running") {
      check.hidden = true; checking = false; lastActivity = Date.now();
      setStatus(d.msgRunning);
      schedule();
    } else {
      checkError.textContent = data.error || "";
      if (data.challenge) renderQuestion(data.challenge);
      const first = checkOptions.querySelector("input");
      if (first) first.focus();
    }
  });

  document.getElementById("study-here").addEventListener("click", start);

  ["pointerdown", "keydown", "scroll", "touchstart", "wheel", "mousemove"].forEach((name) => {
    window.addEventListener(name, () => { lastActivity = Date.now(); }, { passive: true });
  });

  document.addEventListener("visibilitychange", async () => {
    if (!token || checking) return;
    if (document.visibilityState === "hidden") {
      hiddenSince = Date.now();
      clearTimeout(timer);
      await beat(true);          // count the time up to now, then stop
      setStatus(d.msgPaused);
    } else if (hiddenSince !== null) {
      hiddenSince = null;
      lastActivity = Date.now();
      await beat(false);         // the hidden time is a pause: nothing is credited for it
      schedule();
    }
  });

  if (video) {
    video.addEventListener("timeupdate", () => {
      if (!video.seeking && video.currentTime <= furthest + 2) {
        furthest = Math.max(furthest, video.currentTime);
      }
    });
    video.addEventListener("seeking", () => {
      if (video.currentTime > furthest + 1) video.currentTime = furthest;
    });
    video.addEventListener("play", () => { lastActivity = Date.now(); if (token) schedule(); });
  }

  start();
})();
