// Copy buttons on repository pages (the clone URL). A static file because the page's CSP allows no
// inline script. Over plain http on the school network the async clipboard API is not available,
// so the fallback selects the text and uses the older copy command.
for (const button of document.querySelectorAll('button[data-copy]')) {
  const input = document.getElementById(button.dataset.copy);
  if (!(input instanceof HTMLInputElement)) continue;
  button.hidden = false;
  button.addEventListener('click', async () => {
    let copied = false;
    try {
      if (navigator.clipboard && window.isSecureContext) { await navigator.clipboard.writeText(input.value); copied = true; }
    } catch { /* fall through to the selection copy */ }
    if (!copied) { input.focus(); input.select(); copied = document.execCommand('copy'); }
    const label = button.textContent;
    button.textContent = copied ? 'Copied' : 'Press Ctrl+C';
    setTimeout(() => { button.textContent = label; }, 1500);
  });
}
