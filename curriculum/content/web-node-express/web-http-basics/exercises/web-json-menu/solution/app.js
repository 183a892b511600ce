// The bakery's menu, served as JSON. app(req, res) is called once for every request.
// server.js starts the server; the tests call app directly. Do not call listen here.

const menu = [
  { name: "Bagel", price: 1.5 },
  { name: "Croissant", price: 2.25 },
  { name: "Sourdough loaf", price: 5.5 },
  { name: "Cinnamon roll", price: 3 },
];

function sendJson(res, status, data) {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(data));
}

export function app(req, res) {
  const url = new URL(req.url, "http://localhost");

  if (req.method === "GET" && url.pathname === "/menu") {
    const max = url.searchParams.get("max");
    if (max === null) {
      sendJson(res, 200, menu);
      return;
    }
    const limit = Number(max);
    if (max.trim() === "" || Number.isNaN(limit)) {
      sendJson(res, 400, { error: "max must be a number" });
      return;
    }
    sendJson(res, 200, menu.filter((item) => item.price <= limit));
  } else if (req.method === "GET" && url.pathname === "/menu/cheapest") {
    let cheapest = menu[0];
    for (const item of menu) {
      if (item.price < cheapest.price) {
        cheapest = item;
      }
    }
    sendJson(res, 200, cheapest);
  } else {
    sendJson(res, 404, { error: "Not found" });
  }
}
