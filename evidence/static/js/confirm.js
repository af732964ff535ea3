// Confirmation of a destructive action in a dialog (progressive enhancement of evidence/web/confirm.py).
// A form, or the button that submits it, marked data-confirm="…" opens the page's confirmation dialog with that
// text; « Confirmer » sends the form with confirmed=1, so the server does not ask again on a page of its own.
// Without this script (or without <dialog>), the server's confirmation page asks instead.
(function () {
  "use strict";
  var dialog = document.getElementById("confirm-dialog");
  if (!dialog || typeof dialog.showModal !== "function") {
    return;
  }
  var text = document.getElementById("confirm-dialog-text");
  var pending = null;

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter || null;
    var question = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (!question || form.querySelector("input[name='confirmed'][value='1']")) {
      return;
    }
    event.preventDefault();
    pending = {form: form, submitter: submitter};
    text.textContent = question;
    dialog.returnValue = "";
    dialog.showModal();
  });

  dialog.addEventListener("close", function () {
    var chosen = pending;
    pending = null;
    if (!chosen || dialog.returnValue !== "confirm") {
      if (chosen && chosen.submitter) {
        chosen.submitter.focus();
      }
      return;
    }
    var flag = document.createElement("input");
    flag.type = "hidden";
    flag.name = "confirmed";
    flag.value = "1";
    chosen.form.appendChild(flag);
    if (chosen.submitter && typeof chosen.form.requestSubmit === "function") {
      chosen.form.requestSubmit(chosen.submitter);  // keeps the pressed button's name and value
    } else {
      chosen.form.submit();
    }
  });
})();
