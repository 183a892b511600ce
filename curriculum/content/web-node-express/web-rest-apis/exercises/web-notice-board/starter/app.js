// A staff notice board.
// createApp() makes a NEW app with its own notices; the tests call it before every test.
import express from "express";

export function createApp() {
  const app = express();

  // TODO: middleware that sets the header Cache-Control: no-store on every answer

  app.use(express.json());

  const notices = [
    { id: 1, text: "Staff meeting on Friday at 9:00" },
    { id: 2, text: "The loading dock is closed on Tuesday" },
  ];
  let nextId = 3;

  // TODO: a middleware function that answers 401 { error: "A valid staff key is required" }
  //       unless the X-Staff-Key header is "open-sesame", and otherwise calls next()

  app.get("/notices", (req, res) => {
    res.json(notices);
  });

  // TODO: only staff may post (use your middleware), and text must be non-empty text
  //       (400 { error: "text is required" })
  app.post("/notices", (req, res) => {
    const notice = { id: nextId, text: req.body?.text };
    nextId++;
    notices.push(notice);
    res.status(201).json(notice);
  });

  // TODO: 404 { error: "Not found" } for paths the API does not have
  // TODO: error handler (err, req, res, next): 400 { error: "Invalid JSON" } for broken JSON

  return app;
}

export const app = createApp();
