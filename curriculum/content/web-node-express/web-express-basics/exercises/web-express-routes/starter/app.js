// The Corner Bakery, with Express. server.js starts it; the tests import app from here.
import express from "express";

export const app = express();

const menu = [
  { name: "Bagel", price: 1.5 },
  { name: "Croissant", price: 2.25 },
  { name: "Sourdough loaf", price: 5.5 },
  { name: "Cinnamon roll", price: 3 },
];

app.get("/", (req, res) => {
  // TODO: the text "Welcome to the Corner Bakery"
  res.send("Hello");
});

// TODO: GET /hours   -> JSON { open: "07:00", close: "15:00", days: [Tuesday ... Sunday] }
// TODO: GET /menu    -> JSON, the menu array
// TODO: GET /contact -> JSON { phone: "555-0142", address: "12 Main Street" }
