// Progressive enhancement: "Add another" clones the last phone/e-mail row of a fieldset.
document.addEventListener("click", function (event) {
  const button = event.target.closest("[data-add-row]");
  if (!button) return;
  const fieldset = button.closest("[data-repeat]");
  const rows = fieldset.querySelectorAll(".input-group");
  const copy = rows[rows.length - 1].cloneNode(true);
  copy.querySelector("input").value = "";
  fieldset.insertBefore(copy, button);
  copy.querySelector("input").focus();
});

// Progressive enhancement: a running duplicate scan's <progress> bar follows the scan and
// the page reloads with the results when it ends (without script, the page has a link).
(function () {
  const bar = document.querySelector("progress[data-progress-url]");
  if (!bar) return;
  const text = document.querySelector("[data-progress-text]");
  function poll() {
    fetch(bar.dataset.progressUrl, { headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (scan) {
        if (!scan) return;
        if (scan.status !== "queued" && scan.status !== "running") {
          window.location.reload();
          return;
        }
        bar.max = Math.max(scan.total, 1);
        bar.value = scan.done;
        if (text) {
          text.textContent = scan.done + " / " + scan.total +
            (scan.stage_label ? " · " + scan.stage_label : "");
        }
        window.setTimeout(poll, 1500);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
})();
