// The trainer's check-in code: a fresh, signed code every few seconds.
(() => {
  "use strict";
  const img = document.getElementById("qr");
  if (!img) return;
  const refresh = async () => {
    try {
      const response = await fetch(img.dataset.refreshUrl, { credentials: "same-origin" });
      if (response.ok) {
        const data = await response.json();
        img.src = data.svg;
        img.dataset.link = data.link;
      }
    } catch (e) { /* keep the last code; the next refresh tries again */ }
  };
  setInterval(refresh, Number(img.dataset.seconds) * 1000);
})();
