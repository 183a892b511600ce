// Uploads each chosen file as the raw body of one POST, with the form's CSRF token in a header:
// the server parses no multipart (see docs/shop.md). Served by Outpost; no inline script needed.
for (const form of document.querySelectorAll('form[data-attach]')) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = form.querySelector('input[type=file]');
    const status = form.querySelector('[role=status]');
    const csrf = form.querySelector('input[name=_csrf]').value;
    for (const file of input.files) {
      status.textContent = `Sending ${file.name}…`;
      const res = await fetch(form.action, {
        method: 'POST',
        body: file,
        headers: { 'content-type': 'application/octet-stream', 'x-csrf-token': csrf, 'x-filename': encodeURIComponent(file.name), accept: 'application/json' },
      });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        status.textContent = `${file.name}: ${body.error?.message ?? `refused (${res.status})`}`;
        return;
      }
    }
    location.reload();
  });
}
