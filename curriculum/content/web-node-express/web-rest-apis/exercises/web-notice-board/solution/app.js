// A staff notice board.
// createApp() makes a NEW app with its own notices; the tests call it before every test.
import express from "express";

function noCaching(req, res, next) {
  res.set("Cache-Control", "no-store");
  next();
}

function requireStaffKey(req, res, next) {
  if (req.get("X-Staff-Key") !== "open-sesame") {
    return res.status(401).json({ error: "A valid staff key is required" });
  }
  next();
}

export function createApp() {
  const app = express();

  app.use(noCaching);
  app.use(express.json());

  const notices = [
    { id: 1, text: "Staff meeting on Friday at 9:00" },
    { id: 2, text: "The loading dock is closed on Tuesday" },
  ];
  let nextId = 3;

  app.get("/notices", (req, res) => {
    res.json(notices);
  });

  app.post("/notices", requireStaffKey, (req, res) => {
    const text = req.body?.text;
    if (typeof text !== "string" || text.trim() === "") {
      return res.status(400).json({ error: "text is required" });
    }
    const notice = { id: nextId, text };
    nextId++;
    notices.push(notice);
    res.status(201).json(notice);
  });

  app.use((req, res) => {
    res.status(404).json({ error: "Not found" });
  });

  app.use((err, req, res, next) => {
    if (err.status === 400) {
      return res.status(400).json({ error: "Invalid JSON" });
    }
    res.status(500).json({ error: "Something went wrong" });
  });

  return app;
}

export const app = createApp();
