// A REST API for a stockroom. createApp() makes a NEW app with its own items;
// the tests call it before every test. server.js uses the app exported at the bottom.
import express from "express";

export function createApp() {
  const app = express();
  app.use(express.json());

  const items = [
    { id: 1, name: "Hammer", quantity: 5 },
    { id: 2, name: "Nails (box of 100)", quantity: 40 },
    { id: 3, name: "Paint brush", quantity: 12 },
  ];
  let nextId = 4;

  app.get("/items", (req, res) => {
    res.json(items);
  });

  // TODO: GET /items/:id     -> 200 the item, 404 { error: "No item with id ..." }

  // TODO: check the body: 400 { error: "name must be text and quantity a whole number, 0 or more" }
  app.post("/items", (req, res) => {
    const item = { id: nextId, name: req.body?.name, quantity: req.body?.quantity };
    nextId++;
    items.push(item);
    res.status(201).json(item);
  });

  // TODO: PUT /items/:id     -> 200 the changed item, 404, 400
  // TODO: DELETE /items/:id  -> 204 no body, 404

  return app;
}

export const app = createApp();
