// The Corner Bakery's web server. app(req, res) is called once for every request.
// server.js starts the server; the tests call app directly. Do not call listen here.

function sendText(res, status, text) {
  res.writeHead(status, { "Content-Type": "text/plain" });
  res.end(text);
}

export function app(req, res) {
  if (req.method === "GET" && req.url === "/") {
    sendText(res, 200, "Welcome to the Corner Bakery");
  } else if (req.method === "GET" && req.url === "/hours") {
    sendText(res, 200, "Open 7:00-15:00, Tuesday to Sunday");
  } else {
    sendText(res, 404, "Not found");
  }
}
