// Report filters: typing a date switches its period to "Custom dates" (the form works without).
document.querySelectorAll("[data-period-date]").forEach(function (input) {
  input.addEventListener("change", function () {
    var select = document.querySelector('[data-period="' + input.dataset.periodDate + '"]');
    if (select) { select.value = "custom"; }
  });
});
