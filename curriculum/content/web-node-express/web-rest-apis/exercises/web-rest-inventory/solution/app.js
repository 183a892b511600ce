// A REST API for a stockroom. createApp() makes a NEW app with its own items;
// the tests call it before every test. server.js uses the app exported at the bottom.
import express from "express";

const INVALID = "name must be text and quantity a whole number, 0 or more";

function problemWith(body) {
  const nameOk = typeof body?.name === "string" && body.name.trim() !== "";
  const quantityOk = Number.isInteger(body?.quantity) && body.quantity >= 0;
  return nameOk && quantityOk ? null : INVALID;
}

export function createApp() {
  const app = express();
  app.use(express.json());

  const items = [
    { id: 1, name: "Hammer", quantity: 5 },
    { id: 2, name: "Nails (box of 100)", quantity: 40 },
    { id: 3, name: "Paint brush", quantity: 12 },
  ];
  let nextId = 4;

  function findItem(id) {
    return items.find((item) => item.id === Number(id));
  }

  function notFound(res, id) {
    return res.status(404).json({ error: `No item with id ${id}` });
  }

  app.get("/items", (req, res) => {
    res.json(items);
  });

  app.get("/items/:id", (req, res) => {
    const item = findItem(req.params.id);
    if (!item) return notFound(res, req.params.id);
    res.json(item);
  });

  app.post("/items", (req, res) => {
    const problem = problemWith(req.body);
    if (problem) return res.status(400).json({ error: problem });
    const item = { id: nextId, name: req.body.name, quantity: req.body.quantity };
    nextId++;
    items.push(item);
    res.status(201).json(item);
  });

  app.put("/items/:id", (req, res) => {
    const item = findItem(req.params.id);
    if (!item) return notFound(res, req.params.id);
    const problem = problemWith(req.body);
    if (problem) return res.status(400).json({ error: problem });
    item.name = req.body.name;
    item.quantity = req.body.quantity;
    res.json(item);
  });

  app.delete("/items/:id", (req, res) => {
    const index = items.findIndex((item) => item.id === Number(req.params.id));
    if (index === -1) return notFound(res, req.params.id);
    items.splice(index, 1);
    res.status(204).end();
  });

  return app;
}

export const app = createApp();
