// The bakery's menu, served as JSON. app(req, res) is called once for every request.
// server.js starts the server; the tests call app directly. Do not call listen here.

const menu = [
  { name: "Bagel", price: 1.5 },
  { name: "Croissant", price: 2.25 },
  { name: "Sourdough loaf", price: 5.5 },
  { name: "Cinnamon roll", price: 3 },
];

export function app(req, res) {
  // TODO: GET /menu              -> 200, the whole menu
  // TODO: GET /menu?max=3        -> 200, only the items with price <= 3
  // TODO: GET /menu?max=cheap    -> 400, { error: "max must be a number" }
  // TODO: GET /menu/cheapest     -> 200, the cheapest item
  // TODO: anything else          -> 404, { error: "Not found" }
  // Every answer is JSON with the header Content-Type: application/json
  res.writeHead(200, { "Content-Type": "application/json" });
  res.end(JSON.stringify(menu));
}
