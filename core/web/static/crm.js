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
