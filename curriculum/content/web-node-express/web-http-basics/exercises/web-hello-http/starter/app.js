// The Corner Bakery's web server. app(req, res) is called once for every request.
// server.js starts the server; the tests call app directly. Do not call listen here.

export function app(req, res) {
  // TODO: GET /       -> 200 "Welcome to the Corner Bakery"
  // TODO: GET /hours  -> 200 "Open 7:00-15:00, Tuesday to Sunday"
  // TODO: anything else -> 404 "Not found"
  // Every answer has the header Content-Type: text/plain
  res.writeHead(200, { "Content-Type": "text/plain" });
  res.end("Hello!");
}
