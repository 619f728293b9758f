// A page's Print button (the programme page, the patient summary): shown only where this
// script runs (no inline script under the Content-Security-Policy).
document.querySelectorAll("[data-print]").forEach((button) => {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
});
