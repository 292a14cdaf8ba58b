// Progressive enhancement only; every page works without it.
document.addEventListener("DOMContentLoaded", () => {
  // Buttons that need a second thought: <button data-confirm="...">
  document.querySelectorAll("[data-confirm]").forEach((el) => {
    el.addEventListener("click", (event) => {
      if (!window.confirm(el.dataset.confirm)) event.preventDefault();
    });
  });
  // A header checkbox that ticks every row's: <input type="checkbox" data-check-all="claim">
  document.querySelectorAll("[data-check-all]").forEach((all) => {
    const boxes = () => all.form.querySelectorAll(`input[type=checkbox][name="${all.dataset.checkAll}"]`);
    all.hidden = false;
    all.addEventListener("change", () => boxes().forEach((box) => { box.checked = all.checked; }));
  });
  // The user form shows the organisation and district fields only for roles that use them.
  const role = document.getElementById("role");
  if (role && role.dataset.orgRoles) {
    const orgRoles = role.dataset.orgRoles.split(",");
    const sync = () => {
      const org = document.getElementById("organisation_id");
      const district = document.getElementById("district_id");
      if (org) org.closest(".mb-3").hidden = !orgRoles.includes(role.value);
      if (district) district.closest(".mb-3").hidden = role.value !== "regulator";
    };
    role.addEventListener("change", sync);
    sync();
  }
});
