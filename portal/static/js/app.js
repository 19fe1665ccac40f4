// Small progressive enhancements; the pages work without them. No inline scripts (CSP).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const target = document.getElementById(button.dataset.copyTarget);
  if (!target || !navigator.clipboard) return;
  // A read-only input holds its text in value; any other element in its text.
  const text = target instanceof HTMLInputElement ? target.value : target.textContent;
  navigator.clipboard.writeText(text.trim()).then(() => {
    const status = document.getElementById(button.dataset.copyStatus);
    if (status) status.textContent = "Copied.";
  });
});
