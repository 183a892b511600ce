import { expect } from "chai";
import request from "supertest";
import { createApp } from "../app.js";

describe("the library catalogue", () => {
  let app;
  beforeEach(() => {
    app = createApp();
  });

  it("lists all four books", async () => {
    const res = await request(app).get("/books");
    expect(res.status).to.equal(200);
    expect(res.body).to.have.length(4);
  });

  it("lists only the books by one author", async () => {
    const res = await request(app).get("/books?author=Terry%20Pratchett");
    expect(res.status).to.equal(200);
    expect(res.body.map((b) => b.title)).to.deep.equal(["Small Gods", "Going Postal"]);
  });

  it("finds a book by its id", async () => {
    const res = await request(app).get("/books/2");
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ id: 2, title: "Beloved", author: "Toni Morrison", year: 1987 });
  });

  it("answers 404 with a message for an id that does not exist", async () => {
    const res = await request(app).get("/books/99");
    expect(res.status).to.equal(404);
    expect(res.body).to.deep.equal({ error: "No book with id 99" });
  });

  it("adds a new book and answers 201 with it", async () => {
    const res = await request(app).post("/books").send({ title: "Homegoing", author: "Yaa Gyasi", year: 2016 });
    expect(res.status).to.equal(201);
    expect(res.body).to.deep.equal({ id: 5, title: "Homegoing", author: "Yaa Gyasi", year: 2016 });
  });

  it("refuses a new book without an author", async () => {
    const res = await request(app).post("/books").send({ title: "Homegoing" });
    expect(res.status).to.equal(400);
    expect(res.body).to.deep.equal({ error: "title and author are required" });
  });
});
