// The review pages work without this script. With it, a form shows that it is being saved and
// cannot be sent twice by a second tap on a slow connection.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.dataset.sending === "1") {
    event.preventDefault();
    return;
  }
  form.dataset.sending = "1";
  var status = form.querySelector(".status");
  if (status) {
    status.textContent = document.documentElement.lang === "en" ? "Saving…" : "Đang lưu…";
  }
  form.querySelectorAll("button").forEach(function (b) { b.setAttribute("disabled", ""); });
});
// Coming back with the Back button shows the form usable again.
window.addEventListener("pageshow", function () {
  document.querySelectorAll("form").forEach(function (form) {
    form.dataset.sending = "";
    form.querySelectorAll("button").forEach(function (b) { b.removeAttribute("disabled"); });
  });
});
