// Pickers (templates/web/_picker.html): the matches appear as the user types, asked of the app's own JSON
// endpoint (evidence/web/pickers.py). Without this script the picker's search button posts the form to its
// page, which comes back with the matches: the script only spares that round trip.
(function () {
  "use strict";

  function option(root, choice) {
    const item = document.createElement("li");
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = root.dataset.multiple === "true" ? "checkbox" : "radio";
    box.name = root.dataset.name;
    box.value = root.dataset.key === "id" ? String(choice.id) : choice.ref;
    label.append(box, " ");
    if (root.dataset.showRef === "true") {
      const ref = document.createElement("span");
      ref.className = "ref";
      ref.textContent = choice.ref;
      label.append(ref, " ");
    }
    label.append(choice.label);
    if (choice.detail) {
      const detail = document.createElement("span");
      detail.className = "muted";
      detail.textContent = choice.detail;
      label.append(" ", detail);
    }
    item.append(label);
    return item;
  }

  function enhance(root) {
    const input = root.querySelector("[data-picker-query]");
    const selected = root.querySelector("[data-picker-selected]");
    const results = root.querySelector("[data-picker-results]");
    const status = root.querySelector("[data-picker-status]");
    if (!input || !selected || !results) return;
    const multiple = root.dataset.multiple === "true";
    let timer = null;
    let asked = 0; // only the latest answer is shown, whatever order they arrive in

    function chosen() {
      return new Set(Array.from(selected.querySelectorAll("input")).filter((b) => b.checked).map((b) => b.value));
    }

    function show(data) {
      const taken = chosen();
      const items = data.results.filter((c) => !taken.has(root.dataset.key === "id" ? String(c.id) : c.ref));
      results.replaceChildren(...items.map((c) => option(root, c)));
      status.textContent = items.length === 0 && data.query ? root.dataset.none : (data.more ? root.dataset.more : "");
    }

    async function run() {
      const query = input.value.trim();
      const mine = ++asked;
      if (!query && root.dataset.browse !== "true") {
        results.replaceChildren();
        status.textContent = "";
        return;
      }
      const source = root.dataset.source;
      const url = source + (source.includes("?") ? "&" : "?") + "q=" + encodeURIComponent(query);
      try {
        const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (!response.ok) throw new Error(String(response.status));
        const data = await response.json();
        if (mine === asked) show(data);
      } catch (error) {
        if (mine === asked) status.textContent = root.dataset.failed;
      }
    }

    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(run, 200);
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { // search, do not send the whole form
        event.preventDefault();
        clearTimeout(timer);
        run();
      }
    });
    root.addEventListener("change", (event) => {
      const box = event.target;
      if (!(box instanceof HTMLInputElement) || box.name !== root.dataset.name || !box.checked) return;
      if (!results.contains(box)) return;
      if (!multiple) selected.replaceChildren(); // a radio: the one picked replaces the one before
      selected.append(box.closest("li")); // kept whatever is searched next
    });
    root.classList.add("picker-enhanced");
  }

  document.querySelectorAll("[data-picker]").forEach(enhance);
})();
