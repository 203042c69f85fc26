// The board's drag and drop, on top of the forms that work without it: a card dropped on a
// column is moved with the same POST as its "move" button. The page's CSRF token comes in
// the script tag's data-csrf (the pages run no inline script).
const csrf = document.currentScript.dataset.csrf;
for (const card of document.querySelectorAll(".card[draggable]")) {
  card.addEventListener("dragstart", (e) => e.dataTransfer.setData("text/plain", card.dataset.deal));
}
for (const column of document.querySelectorAll(".column")) {
  column.addEventListener("dragover", (e) => { e.preventDefault(); column.classList.add("drop"); });
  column.addEventListener("dragleave", () => column.classList.remove("drop"));
  column.addEventListener("drop", async (e) => {
    e.preventDefault();
    column.classList.remove("drop");
    const body = new FormData();
    body.set("csrf", csrf);
    body.set("stage", column.dataset.stage);
    if (column.dataset.reason) {
      const reason = prompt(column.dataset.reason);
      if (!reason) return;
      body.set("reason", reason);
    }
    const deal = e.dataTransfer.getData("text/plain");
    const answer = await fetch(`/deals/${deal}/move`, {method: "POST", body, headers: {Accept: "application/json"}});
    if (!answer.ok) {
      let why = answer.statusText;
      try { why = (await answer.json()).error; } catch (error) { /* a page, not JSON */ }
      alert(why);
    }
    location.reload();
  });
}
