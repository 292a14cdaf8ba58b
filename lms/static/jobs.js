// A job's progress bar (templates core/_job_progress.html): poll the job's status every
// 1.5 seconds and update the bar; when it has finished, open its result (or reload the page).
(function () {
  "use strict";
  function watch(box) {
    var url = box.getAttribute("data-job-status");
    var bar = box.querySelector("progress");
    var state = box.querySelector(".job-state");
    var detail = box.querySelector(".job-detail");
    var percent = box.querySelector(".job-percent");
    function poll() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (job) {
          if (!job) { window.setTimeout(poll, 5000); return; }
          bar.value = job.percent;
          state.textContent = job.state_title;
          detail.textContent = job.message || "";
          percent.textContent = job.percent + "%";
          if (job.finished) {
            if (job.result_link) { window.location.assign(job.result_link); }
            else { window.location.reload(); }
            return;
          }
          window.setTimeout(poll, 1500);
        })
        .catch(function () { window.setTimeout(poll, 5000); });
    }
    window.setTimeout(poll, 1000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-job-status]").forEach(watch);
  });
})();
