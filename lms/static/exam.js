// The theory paper: answers are saved as they are given; the clock shows the server's time
// left and hands the paper in at zero (the server also does, whenever it is next asked).
// It counts down from the seconds the server says are left, measured on this browser's own
// clock from the moment the page loaded: the browser's clock and the server's may disagree,
// so the server's deadline is never compared with the browser's time. In the last minutes
// the clock turns red and a live region tells screen-reader users how long is left.
(() => {
  "use strict";
  const bar = document.getElementById("exam");
  if (!bar) return;
  const form = document.getElementById("exam-form");
  const clock = document.getElementById("exam-clock");
  const status = document.getElementById("exam-status");
  const warning = document.getElementById("exam-warning");
  const loaded = performance.now();
  const remaining = Number(bar.dataset.remaining);
  const warnAt = Number(bar.dataset.warnSeconds);
  const lastAt = Number(bar.dataset.lastSeconds);
  let handingIn = false;
  let announced = Infinity; // the threshold last announced

  const secondsLeft = () => Math.max(0, Math.round(remaining - (performance.now() - loaded) / 1000));

  const warn = (left) => {
    if (left > warnAt) return;
    clock.classList.add("text-danger");
    bar.classList.add("border-danger", "exam-low");
    const threshold = left <= lastAt ? lastAt : warnAt;
    if (threshold < announced) {
      announced = threshold;
      warning.textContent = threshold === lastAt ? bar.dataset.lastText : bar.dataset.warnText;
    }
  };

  const handIn = () => {
    if (handingIn) return;
    handingIn = true;
    form.querySelectorAll("[data-confirm]").forEach((el) => el.removeAttribute("data-confirm"));
    form.submit();
  };

  const tick = () => {
    const left = secondsLeft();
    clock.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    warn(left);
    // a moment after zero, so the server (whose clock decides) sees the time as over
    if (left === 0) setTimeout(handIn, 1500);
  };
  setInterval(tick, 1000);
  tick();

  form.querySelectorAll(".exam-item").forEach((item) => {
    item.addEventListener("change", async () => {
      const checked = [...item.querySelectorAll("input:checked")].map((input) => input.value);
      const answer = item.dataset.kind === "truefalse" ? checked.map((v) => v === "true")
        : checked.map(Number);
      try {
        const response = await fetch(item.dataset.saveUrl, {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": bar.dataset.csrf },
          body: JSON.stringify({ answer }),
        });
        const data = await response.json();
        if (data.submitted) { handIn(); return; }
        status.textContent = response.ok ? bar.dataset.saved : bar.dataset.failed;
      } catch (e) {
        status.textContent = bar.dataset.failed;
      }
    });
  });
})();
