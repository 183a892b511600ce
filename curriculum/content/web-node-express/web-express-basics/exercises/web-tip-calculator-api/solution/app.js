// An API that works out tips and splits bills. server.js starts it; the tests import app.
import express from "express";

export const app = express();

function roundToCents(x) {
  return Math.round(x * 100) / 100;
}

// Turns text into a number, or gives NaN when the text is missing or empty.
function toNumber(text) {
  if (text === undefined || String(text).trim() === "") {
    return NaN;
  }
  return Number(text);
}

app.get("/tip", (req, res) => {
  const bill = toNumber(req.query.bill);
  if (Number.isNaN(bill) || bill < 0) {
    return res.status(400).json({ error: "bill must be a number, 0 or more" });
  }
  const percent = req.query.percent === undefined ? 15 : toNumber(req.query.percent);
  if (Number.isNaN(percent) || percent < 0) {
    return res.status(400).json({ error: "percent must be a number, 0 or more" });
  }
  const tip = roundToCents((bill * percent) / 100);
  res.json({ bill, percent, tip, total: roundToCents(bill + tip) });
});

app.get("/split/:total/:people", (req, res) => {
  const total = toNumber(req.params.total);
  if (Number.isNaN(total) || total < 0) {
    return res.status(400).json({ error: "total must be a number, 0 or more" });
  }
  const people = toNumber(req.params.people);
  if (!Number.isInteger(people) || people < 1) {
    return res.status(400).json({ error: "people must be a whole number, 1 or more" });
  }
  const each = Math.ceil((total / people) * 100) / 100;
  res.json({ total, people, each });
});
