// A library catalogue API.
// createApp() makes a NEW app with its own list of books. The tests call it before every test,
// so each test starts with the same four books. server.js uses the app exported at the bottom.
import express from "express";

export function createApp() {
  const app = express();
  app.use(express.json());

  const books = [
    { id: 1, title: "Small Gods", author: "Terry Pratchett", year: 1992 },
    { id: 2, title: "Beloved", author: "Toni Morrison", year: 1987 },
    { id: 3, title: "Things Fall Apart", author: "Chinua Achebe", year: 1958 },
    { id: 4, title: "Going Postal", author: "Terry Pratchett", year: 2004 },
  ];

  app.get("/books", (req, res) => {
    const author = req.query.author;
    if (author === undefined) {
      return res.json(books);
    }
    res.json(books.filter((book) => book.author.toLowerCase() === String(author).toLowerCase()));
  });

  app.get("/books/:id", (req, res) => {
    const book = books.find((b) => b.id === Number(req.params.id));
    if (book === undefined) {
      return res.status(404).json({ error: `No book with id ${req.params.id}` });
    }
    res.json(book);
  });

  app.post("/books", (req, res) => {
    const title = req.body?.title;
    const author = req.body?.author;
    const isText = (x) => typeof x === "string" && x.trim() !== "";
    if (!isText(title) || !isText(author)) {
      return res.status(400).json({ error: "title and author are required" });
    }
    let highest = 0;
    for (const book of books) {
      if (book.id > highest) highest = book.id;
    }
    const book = { id: highest + 1, title, author, year: req.body.year ?? null };
    books.push(book);
    res.status(201).json(book);
  });

  return app;
}

export const app = createApp();
