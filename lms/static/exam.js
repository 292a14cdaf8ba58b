// The theory paper: answers are saved as they are given; the clock shows the server's time
// left and hands the paper in at zero (the server also does, whenever it is next asked).
(() => {
  "use strict";
  const bar = document.getElementById("exam");
  if (!bar) return;
  const form = document.getElementById("exam-form");
  const clock = document.getElementById("exam-clock");
  const status = document.getElementById("exam-status");
  const deadline = Date.now() + Number(bar.dataset.remaining) * 1000;
  let handingIn = false;

  const handIn = () => {
    if (handingIn) return;
    handingIn = true;
    form.querySelectorAll("[data-confirm]").forEach((el) => el.removeAttribute("data-confirm"));
    form.submit();
  };

  const tick = () => {
    const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    clock.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
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
