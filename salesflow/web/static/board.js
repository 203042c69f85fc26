// The board's drag and drop, on top of the forms that work without it: a card dropped on a
// column is moved with the same POST as its "move" button. The page's CSRF token comes in
// the script tag's data-csrf (the pages run no inline script). A move the stage refuses for
// what the deal lacks opens the prompt's form in a dialog.
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
    const answer = await move(deal, body);
    if (answer.status === 409 && answer.refusal.missing) {
      await ask(deal, column.dataset.stage);  // reloads once the prompt has moved the card
      return;
    }
    if (!answer.ok) alert(answer.refusal.error);
    location.reload();
  });
}

// POST a move as the board's script: the answer, and its refusal ({error, missing}) if any.
async function move(deal, body) {
  const answer = await fetch(`/deals/${deal}/move`, {method: "POST", body, headers: {Accept: "application/json"}});
  let refusal = {error: answer.statusText};
  if (!answer.ok) {
    try { refusal = await answer.json(); } catch (error) { /* a page, not JSON */ }
  }
  return {ok: answer.ok, status: answer.status, refusal};
}

// A move the stage refused for what the deal lacks: the prompt page's form (GET
// /deals/N/move?to=STAGE, the one a browser without JavaScript gets) in a dialog. Filled
// and sent, it sets the fields, ticks the items and moves the deal; still refused, it says
// why and stays open.
async function ask(deal, stage) {
  const page = await fetch(`/deals/${deal}/move?to=${encodeURIComponent(stage)}`);
  const html = new DOMParser().parseFromString(await page.text(), "text/html");
  const form = html.querySelector("form.prompt");
  if (!form) { location.reload(); return; }
  const dialog = document.createElement("dialog");
  dialog.className = "prompt";
  dialog.append(html.querySelector("main h1"), form);
  document.body.append(dialog);
  form.querySelector("a").addEventListener("click", (e) => { e.preventDefault(); dialog.close(); });
  dialog.addEventListener("close", () => dialog.remove());
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const answer = await move(deal, new FormData(form));
    if (answer.ok) { location.reload(); return; }
    const said = form.querySelector(".error");
    said.textContent = answer.refusal.error;
    said.hidden = false;
  });
  dialog.showModal();
}
