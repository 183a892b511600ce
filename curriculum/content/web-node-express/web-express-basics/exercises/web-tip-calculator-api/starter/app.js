// An API that works out tips and splits bills. server.js starts it; the tests import app.
import express from "express";

export const app = express();

app.get("/tip", (req, res) => {
  // TODO: read bill and percent from req.query (percent is 15 when it is not given)
  // TODO: 400 { error: "bill must be a number, 0 or more" } for a missing or bad bill
  // TODO: 400 { error: "percent must be a number, 0 or more" } for a bad percent
  // TODO: answer { bill, percent, tip, total } with money rounded to cents
  res.json({ bill: 0, percent: 15, tip: 0, total: 0 });
});

app.get("/split/:total/:people", (req, res) => {
  // TODO: read total and people from req.params
  // TODO: 400 { error: "total must be a number, 0 or more" }
  // TODO: 400 { error: "people must be a whole number, 1 or more" }
  // TODO: answer { total, people, each }, each rounded UP to the next cent
  res.json({});
});
