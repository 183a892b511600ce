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
    // TODO: when req.query.author is given, only the books by that author (capitals do not matter)
    res.json(books);
  });

  // TODO: GET /books/:id  -> 200 the book, or 404 { error: "No book with id ..." }

  // TODO: POST /books     -> 201 the new book { id, title, author, year }
  //                          400 { error: "title and author are required" }

  return app;
}

export const app = createApp();
