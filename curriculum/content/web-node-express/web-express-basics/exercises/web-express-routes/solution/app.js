// The Corner Bakery, with Express. server.js starts it; the tests import app from here.
import express from "express";

export const app = express();

const menu = [
  { name: "Bagel", price: 1.5 },
  { name: "Croissant", price: 2.25 },
  { name: "Sourdough loaf", price: 5.5 },
  { name: "Cinnamon roll", price: 3 },
];

const hours = {
  open: "07:00",
  close: "15:00",
  days: ["Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
};

app.get("/", (req, res) => {
  res.send("Welcome to the Corner Bakery");
});

app.get("/hours", (req, res) => {
  res.json(hours);
});

app.get("/menu", (req, res) => {
  res.json(menu);
});

app.get("/contact", (req, res) => {
  res.json({ phone: "555-0142", address: "12 Main Street" });
});
